//! TLS against real third-party peers: `openssl s_client` (TLS 1.2 and 1.3) and `curl` against
//! our server; our Agent against `openssl s_server -rev`. Certificates are generated per run.

mod support;
mod tls_support;
use shardnet::tls::*;
use shardnet::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use support::*;
use tls_support::*;

/// Echo server recording the TLS version of each handshake.
#[derive(Default)]
struct Echo {
    versions: Mutex<Vec<String>>,
}

impl ServerListener for Echo {
    fn on_handshake(&self, s: &TcpServer, c: ConnId) -> HandleResult {
        let v = s.tls_info(c).and_then(|i| i.version);
        self.versions.lock().unwrap().push(format!("{v:?}"));
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        match s.send(c, d) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

/// Reads `child`'s stdout lines on a thread; returns the first line containing `want`.
fn wait_line(child: &mut std::process::Child, want: &str, secs: u64) -> Option<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(want) => return Some(l),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn openssl_s_client_tls12_and_tls13() {
    let ca = Ca::new("interop CA");
    let leaf = ca.server(&["localhost"]);
    let dir = temp_dir("sclient");
    let ca_file = write(&dir, "ca.pem", &ca.pem);
    let l = Arc::new(Echo::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .tls(
            ServerTlsConfig::builder()
                .identity(leaf.identity())
                .build()
                .unwrap(),
        )
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let port = server.listen_addr().unwrap().port();
    for (flag, want) in [("-tls1_3", "TLSv1_3"), ("-tls1_2", "TLSv1_2")] {
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost", "-verify_return_error", "-quiet"])
            .arg("-CAfile")
            .arg(&ca_file)
            .arg(flag)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is installed (see .ci/run)");
        let msg = format!("hello over {want}");
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(format!("{msg}\n").as_bytes())
            .unwrap();
        let line = wait_line(&mut child, &msg, 20);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(line.as_deref(), Some(msg.as_str()), "{flag}: echoed line");
        assert!(
            l.versions.lock().unwrap().iter().any(|v| v.contains(want)),
            "{flag}: server saw {:?}",
            l.versions.lock().unwrap()
        );
    }
    server.stop();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// curl speaks HTTPS to a TLS server that answers one minimal HTTP response.
#[test]
fn curl_gets_a_response_over_tls() {
    struct Http;
    impl ServerListener for Http {
        fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
            if d.windows(4).any(|w| w == b"\r\n\r\n") {
                let body = "hello from shardnet tls";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.send(c, resp.as_bytes()).unwrap();
                s.disconnect(c, false).unwrap();
            }
            HandleResult::Ok
        }
        fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let ca = Ca::new("curl CA");
    let leaf = ca.server(&["localhost"]);
    let dir = temp_dir("curl");
    let ca_file = write(&dir, "ca.pem", &ca.pem);
    let server = TcpServer::builder()
        .runtime(rt(1))
        .tls(
            ServerTlsConfig::builder()
                .identity(leaf.identity())
                .alpn(["http/1.1"])
                .build()
                .unwrap(),
        )
        .start("127.0.0.1:0", Arc::new(Http))
        .unwrap();
    let port = server.listen_addr().unwrap().port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http1.1", "--cacert"])
        .arg(&ca_file)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}/"))
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from shardnet tls"
    );
    server.stop();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// Our Agent (Push) against `openssl s_server -rev`, which answers each line reversed.
#[test]
fn agent_against_openssl_s_server() {
    let ca = Ca::new("s_server CA");
    let leaf = ca.server(&["localhost"]);
    let dir = temp_dir("sserver");
    let cert = write(&dir, "cert.pem", &leaf.cert_pem);
    let key = write(&dir, "key.pem", &leaf.key_pem);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new("openssl")
        .args(["s_server", "-accept", &port.to_string(), "-rev", "-quiet"])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is installed");
    assert!(
        wait_until(10, || std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok()),
        "s_server listening"
    );

    #[derive(Default)]
    struct Got {
        bytes: Mutex<Vec<u8>>,
        handshakes: Mutex<Vec<TlsInfo>>,
    }
    impl AgentListener for Got {
        fn on_handshake(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
            self.handshakes.lock().unwrap().push(a.tls_info(c).unwrap());
            a.send(c, b"shardnet\n").unwrap();
            HandleResult::Ok
        }
        fn on_receive(&self, _: &TcpAgent, _: ConnId, d: &[u8]) -> HandleResult {
            self.bytes.lock().unwrap().extend_from_slice(d);
            HandleResult::Ok
        }
        fn on_close(&self, _: &TcpAgent, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let got = Arc::new(Got::default());
    let agent = TcpAgent::builder()
        .runtime(rt(1))
        .tls(ca.client_config().build().unwrap())
        .start(got.clone())
        .unwrap();
    agent.connect_named("127.0.0.1", port, "localhost").unwrap();
    let ok = wait_until(20, || {
        String::from_utf8_lossy(&got.bytes.lock().unwrap()).contains("tendrahs")
    });
    agent.stop();
    agent.wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    assert!(
        ok,
        "reversed line: {:?}",
        String::from_utf8_lossy(&got.bytes.lock().unwrap())
    );
    let hs = got.handshakes.lock().unwrap();
    assert_eq!(hs.len(), 1);
    assert_eq!(hs[0].peer_certificates[0].as_ref(), &leaf.der[..]);
}

/// STARTTLS: plain TCP first, TLS after the application says so (`auto_handshake(false)` +
/// `start_handshake`). PostgreSQL's SSLRequest is the protocol: the client sends 8 bytes,
/// the server answers `S`, then both start TLS.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

#[derive(Default)]
struct StartTlsServer {
    plain: Mutex<Vec<Vec<u8>>>,
    handshakes: Mutex<Vec<ConnId>>,
}

impl ServerListener for StartTlsServer {
    fn on_handshake(&self, _: &TcpServer, c: ConnId) -> HandleResult {
        self.handshakes.lock().unwrap().push(c);
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        if !self.handshakes.lock().unwrap().contains(&c) {
            // Still plain: only the SSLRequest is acceptable.
            self.plain.lock().unwrap().push(d.to_vec());
            if d != SSL_REQUEST {
                return HandleResult::Error;
            }
            s.send(c, b"S").unwrap();
            s.start_handshake(c).unwrap();
            return HandleResult::Ok;
        }
        match s.send(c, d) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

#[test]
fn starttls_with_openssl_and_with_our_agent() {
    let ca = Ca::new("starttls CA");
    let leaf = ca.server(&["localhost"]);
    let dir = temp_dir("starttls");
    let ca_file = write(&dir, "ca.pem", &ca.pem);
    let l = Arc::new(StartTlsServer::default());
    let server = TcpServer::builder()
        .runtime(rt(1))
        .auto_handshake(false)
        .tls(
            ServerTlsConfig::builder()
                .identity(leaf.identity())
                .build()
                .unwrap(),
        )
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let port = server.listen_addr().unwrap().port();

    // openssl's own STARTTLS for PostgreSQL.
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-starttls", "postgres", "-servername", "localhost"])
        .args(["-verify_return_error", "-quiet", "-CAfile"])
        .arg(&ca_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl is installed");
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"after starttls\n")
        .unwrap();
    let line = wait_line(&mut child, "after starttls", 20);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(line.as_deref(), Some("after starttls"));
    assert_eq!(l.plain.lock().unwrap().as_slice(), &[SSL_REQUEST.to_vec()]);

    // Our Agent doing the client side of the same dance.
    #[derive(Default)]
    struct Client {
        bytes: Mutex<Vec<u8>>,
        tls_up: Mutex<bool>,
    }
    impl AgentListener for Client {
        fn on_connect(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
            a.send(c, &SSL_REQUEST).unwrap();
            HandleResult::Ok
        }
        fn on_handshake(&self, a: &TcpAgent, c: ConnId) -> HandleResult {
            *self.tls_up.lock().unwrap() = true;
            assert!(a.tls_info(c).is_some());
            a.send(c, b"secret").unwrap();
            HandleResult::Ok
        }
        fn on_receive(&self, a: &TcpAgent, c: ConnId, d: &[u8]) -> HandleResult {
            if !*self.tls_up.lock().unwrap() {
                assert_eq!(d, b"S");
                assert!(a.tls_info(c).is_none(), "still plain");
                a.start_handshake(c).unwrap();
                return HandleResult::Ok;
            }
            self.bytes.lock().unwrap().extend_from_slice(d);
            HandleResult::Ok
        }
        fn on_close(&self, _: &TcpAgent, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let cl = Arc::new(Client::default());
    let agent = TcpAgent::builder()
        .runtime(rt(1))
        .auto_handshake(false)
        .tls(ca.client_config().build().unwrap())
        .start(cl.clone())
        .unwrap();
    let c = agent.connect_named("127.0.0.1", port, "localhost").unwrap();
    assert!(wait_until(10, || cl.bytes.lock().unwrap().len() == 6));
    assert_eq!(&*cl.bytes.lock().unwrap(), b"secret");
    // TLS decides when its handshake is complete: the plain-TCP hook is refused.
    assert!(matches!(
        agent.complete_handshake(c),
        Err(Error::InvalidParam(_))
    ));
    assert_eq!(l.handshakes.lock().unwrap().len(), 2);
    agent.stop();
    agent.wait().unwrap();
    server.stop();
    server.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
