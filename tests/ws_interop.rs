//! WebSocket interop with third-party implementations, both directions: python `websockets`
//! (offers permessage-deflate; also over TLS), `tungstenite` (no extensions: a browser-style
//! client), and raw sockets for refusals and protocol errors with their close codes and
//! `on_close` errnos.

mod support;
mod tls_support;

use shardnet::ws::*;
use shardnet::{ConnId, HandleResult, SocketOperation};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// Echoes messages; records opens, close frames and closes; refuses `/forbidden` (403) and
/// picks `chat` when offered.
#[derive(Default)]
struct Echo {
    opens: Mutex<Vec<ConnId>>,
    ws_closes: Mutex<Vec<(Option<u16>, String)>>,
    closes: Mutex<Vec<(SocketOperation, i32)>>,
    messages: Mutex<usize>,
}

impl WebSocketListener for Echo {
    fn on_upgrade(
        &self,
        _: &WebSocketServer,
        _: ConnId,
        head: &shardnet::http::RequestHead<'_>,
        protocols: &[String],
    ) -> UpgradeDecision {
        if head.target.starts_with("/forbidden") {
            return UpgradeDecision::Reject(403);
        }
        UpgradeDecision::Accept {
            protocol: protocols.iter().find(|p| *p == "chat").cloned(),
        }
    }
    fn on_open(&self, _: &WebSocketServer, conn: ConnId) -> HandleResult {
        self.opens.lock().unwrap().push(conn);
        HandleResult::Ok
    }
    fn on_message(&self, ws: &WebSocketServer, conn: ConnId, msg: Message<'_>) -> HandleResult {
        *self.messages.lock().unwrap() += 1;
        let r = match msg {
            Message::Text(t) => ws.send_text(conn, t),
            Message::Binary(b) => ws.send_binary(conn, b),
        };
        if r.is_err() {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }
    fn on_ws_close(&self, _: &WebSocketServer, _: ConnId, code: Option<u16>, reason: &str) {
        self.ws_closes
            .lock()
            .unwrap()
            .push((code, reason.to_string()));
    }
    fn on_close(
        &self,
        _: &WebSocketServer,
        _: ConnId,
        op: SocketOperation,
        e: i32,
    ) -> HandleResult {
        self.closes.lock().unwrap().push((op, e));
        HandleResult::Ok
    }
}

fn echo_server() -> (WebSocketServer, Arc<Echo>, u16) {
    let l = Arc::new(Echo::default());
    let s = WebSocketServer::builder()
        .runtime(rt(2))
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let port = s.listen_addr().unwrap().port();
    (s, l, port)
}

fn python(script: &str, args: &[&str]) -> String {
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout).unwrap()
}

const PY_CLIENT: &str = r#"
import asyncio, sys, ssl
from websockets.asyncio.client import connect
async def main(url, ca):
    kw = {}
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
        kw["ssl"] = ctx
    async with connect(url, subprotocols=["chat", "other"], max_size=2**22, **kw) as ws:
        ext = [e.name for e in ws.protocol.extensions]
        print("protocol", ws.subprotocol, "extensions", ",".join(ext))
        await ws.send("héllo ✓")
        print("text", await ws.recv())
        await ws.send(bytes(range(256)) * 4)
        b = await ws.recv()
        print("binary", len(b), b == bytes(range(256)) * 4)
        big = "x" * (1 << 20)
        await ws.send(big)
        print("big", len(await ws.recv()))
        pong = await ws.ping(b"are you there")
        await pong
        print("pong ok")
        await ws.close(code=1000, reason="done here")
        print("closed", ws.close_code)
asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
"#;

#[test]
fn python_websockets_client_with_compression() {
    let (s, l, port) = echo_server();
    let out = python(PY_CLIENT, &[&format!("ws://127.0.0.1:{port}/chat")]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "protocol chat extensions permessage-deflate",
        "{out}"
    );
    assert_eq!(lines[1], "text héllo ✓");
    assert_eq!(lines[2], "binary 1024 True");
    assert_eq!(lines[3], format!("big {}", 1 << 20));
    assert_eq!(lines[4], "pong ok");
    assert_eq!(lines[5], "closed 1000");
    assert!(wait_until(5, || l.closes.lock().unwrap().len() == 1));
    assert_eq!(
        l.ws_closes.lock().unwrap()[0],
        (Some(1000), "done here".to_string())
    );
    assert_eq!(l.closes.lock().unwrap()[0], (SocketOperation::Close, 0));
    assert_eq!(*l.messages.lock().unwrap(), 3);
    s.stop();
    s.wait().unwrap();
}

#[test]
fn python_websockets_client_over_tls() {
    let ca = tls_support::Ca::new("wss CA");
    let leaf = ca.server(&["localhost"]);
    let dir = tls_support::temp_dir("wss");
    let ca_file = tls_support::write(&dir, "ca.pem", &ca.pem);
    let l = Arc::new(Echo::default());
    let s = WebSocketServer::builder()
        .runtime(rt(1))
        .tls(tls_support::https_config(&leaf))
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let port = s.listen_addr().unwrap().port();
    // "localhost" may resolve to ::1 first: the server listens on 127.0.0.1, so connect by
    // address with the certificate's name as the server name.
    let script = PY_CLIENT.replace(
        "async with connect(url,",
        "async with connect(url, server_hostname=\"localhost\",",
    );
    let out = python(
        &script,
        &[
            &format!("wss://127.0.0.1:{port}/"),
            ca_file.to_str().unwrap(),
        ],
    );
    assert!(out.contains("text héllo ✓"), "{out}");
    assert!(out.contains("closed 1000"), "{out}");
    s.stop();
    s.wait().unwrap();
}

/// Our agent's view of an echo server: messages and closes.
#[derive(Default)]
struct Got {
    opened: Mutex<Vec<ConnId>>,
    msgs: Mutex<Vec<(bool, Vec<u8>)>>,
    ws_close: Mutex<Option<(Option<u16>, String)>>,
    closes: Mutex<Vec<(SocketOperation, i32)>>,
    failed: Mutex<Vec<u16>>,
}

impl WebSocketClientListener for Got {
    fn on_open(&self, _: &WebSocketAgent, conn: ConnId) -> HandleResult {
        self.opened.lock().unwrap().push(conn);
        HandleResult::Ok
    }
    fn on_upgrade_failed(&self, _: &WebSocketAgent, _: ConnId, status: u16, _: &str) {
        self.failed.lock().unwrap().push(status);
    }
    fn on_message(&self, _: &WebSocketAgent, _: ConnId, msg: Message<'_>) -> HandleResult {
        let m = match msg {
            Message::Text(t) => (true, t.as_bytes().to_vec()),
            Message::Binary(b) => (false, b.to_vec()),
        };
        self.msgs.lock().unwrap().push(m);
        HandleResult::Ok
    }
    fn on_ws_close(&self, _: &WebSocketAgent, _: ConnId, code: Option<u16>, reason: &str) {
        *self.ws_close.lock().unwrap() = Some((code, reason.to_string()));
    }
    fn on_close(&self, _: &WebSocketAgent, _: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((op, e));
        HandleResult::Ok
    }
}

const PY_SERVER: &str = r#"
import asyncio, sys
from websockets.asyncio.server import serve
async def echo(ws):
    print("extensions", ",".join(e.name for e in ws.protocol.extensions), flush=True)
    async for m in ws:
        if m == "bye":
            await ws.close(code=4000, reason="as asked")
            return
        await ws.send(m)
async def main(port):
    async with serve(echo, "127.0.0.1", port, max_size=2**22):
        print("ready", flush=True)
        await asyncio.sleep(30)
asyncio.run(main(int(sys.argv[1])))
"#;

#[test]
fn our_agent_against_python_websockets_server() {
    let port = free_port();
    let mut child = Command::new("python3")
        .args(["-c", PY_SERVER, &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    let n = out.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("ready"));
    for deflate in [false, true] {
        let got = Arc::new(Got::default());
        let agent = WebSocketAgent::builder()
            .shards(1)
            .deflate(deflate.then(DeflateConfig::default))
            .start(got.clone())
            .unwrap();
        let conn = agent
            .connect(&format!("ws://127.0.0.1:{port}/"), &[])
            .unwrap();
        assert!(wait_until(10, || !got.opened.lock().unwrap().is_empty()));
        agent.send_text(conn, "first ✓").unwrap();
        let big: Vec<u8> = pattern(300_000, 5);
        agent.send_binary(conn, &big).unwrap();
        agent
            .send_text(conn, &"compressible ".repeat(1000))
            .unwrap();
        assert!(wait_until(10, || got.msgs.lock().unwrap().len() == 3));
        {
            let msgs = got.msgs.lock().unwrap();
            assert_eq!(msgs[0], (true, "first ✓".as_bytes().to_vec()));
            assert!(!msgs[1].0 && msgs[1].1 == big);
            assert_eq!(msgs[2].1.len(), 13_000);
        }
        // The server closes on request: our agent answers and sees the TCP close.
        agent.send_text(conn, "bye").unwrap();
        assert!(wait_until(10, || !got.closes.lock().unwrap().is_empty()));
        assert_eq!(
            *got.ws_close.lock().unwrap(),
            Some((Some(4000), "as asked".to_string()))
        );
        agent.stop();
        agent.wait().unwrap();
    }
    let mut rest = String::new();
    let _ = child.kill();
    let _ = out.read_to_string(&mut rest);
    let _ = child.wait();
    // The second connection negotiated compression.
    assert!(rest.contains("extensions permessage-deflate"), "{rest}");
}

#[test]
fn tungstenite_client_against_our_server() {
    let (s, l, port) = echo_server();
    let (mut ws, resp) = tungstenite::connect(format!("ws://127.0.0.1:{port}/plain")).unwrap();
    assert_eq!(resp.status(), 101);
    assert!(resp.headers().get("sec-websocket-extensions").is_none());
    for i in 0..50 {
        ws.send(tungstenite::Message::text(format!("msg {i}")))
            .unwrap();
        assert_eq!(
            ws.read().unwrap().into_text().unwrap().as_str(),
            format!("msg {i}")
        );
    }
    let blob = pattern(70_000, 9);
    ws.send(tungstenite::Message::binary(blob.clone())).unwrap();
    assert_eq!(ws.read().unwrap().into_data().to_vec(), blob);
    ws.close(None).unwrap();
    // The close handshake completes: tungstenite reads our close answer, then the end.
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(wait_until(5, || l.closes.lock().unwrap().len() == 1));
    s.stop();
    s.wait().unwrap();
}

#[test]
fn our_agent_against_tungstenite_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(s).unwrap();
        loop {
            match ws.read() {
                Ok(m) if m.is_text() || m.is_binary() => ws.send(m).unwrap(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let got = Arc::new(Got::default());
    let agent = WebSocketAgent::builder()
        .shards(1)
        .deflate(Some(DeflateConfig::default())) // offered; tungstenite declines
        .start(got.clone())
        .unwrap();
    let conn = agent
        .connect(&format!("ws://127.0.0.1:{port}/"), &[])
        .unwrap();
    assert!(wait_until(10, || !got.opened.lock().unwrap().is_empty()));
    for i in 0..20 {
        agent.send_text(conn, &format!("t{i}")).unwrap();
    }
    agent.send_binary(conn, &[1, 2, 3]).unwrap();
    assert!(wait_until(10, || got.msgs.lock().unwrap().len() == 21));
    assert_eq!(got.msgs.lock().unwrap()[20], (false, vec![1, 2, 3]));
    agent.close(conn, 1000, "finished").unwrap();
    assert!(wait_until(10, || !got.closes.lock().unwrap().is_empty()));
    assert_eq!(
        *got.ws_close.lock().unwrap(),
        Some((Some(1000), "finished".to_string()))
    );
    agent.stop();
    agent.wait().unwrap();
}

fn raw_upgrade(port: u16, path: &str, extra: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        got.push(b[0]);
    }
    (s, String::from_utf8(got).unwrap())
}

#[test]
fn refusals_and_protocol_errors() {
    let (s, l, port) = echo_server();
    let (_, head) = raw_upgrade(port, "/", "Sec-WebSocket-Version: 8\r\n");
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert!(head.contains("Sec-WebSocket-Version: 13"), "{head}");
    let (_, head) = raw_upgrade(port, "/forbidden", "Sec-WebSocket-Version: 13\r\n");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    // A plain GET without an upgrade: 426.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut b = [0u8; 64];
    let n = c.read(&mut b).unwrap();
    assert!(b[..n].starts_with(b"HTTP/1.1 426"));

    // Accepted, then an unmasked frame: close 1002, on_close(Receive, EPROTO).
    let (mut c, head) = raw_upgrade(port, "/", "Sec-WebSocket-Version: 13\r\n");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    c.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let mut frame = Vec::new();
    let _ = c.read_to_end(&mut frame);
    assert_eq!(
        &frame[..4],
        &[0x88, frame[1], 0x03, 0xEA],
        "close 1002: {frame:?}"
    );
    // Masked text with invalid UTF-8: close 1007, EILSEQ.
    let (mut c, _) = raw_upgrade(port, "/", "Sec-WebSocket-Version: 13\r\n");
    c.write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xC0, 0x80]).unwrap();
    let mut frame = Vec::new();
    let _ = c.read_to_end(&mut frame);
    assert_eq!(&frame[2..4], &1007u16.to_be_bytes());
    assert!(wait_until(5, || l.closes.lock().unwrap().len() >= 5));
    let closes = l.closes.lock().unwrap().clone();
    assert!(
        closes.contains(&(SocketOperation::Receive, libc::EPROTO)),
        "{closes:?}"
    );
    assert!(
        closes.contains(&(SocketOperation::Receive, libc::EILSEQ)),
        "{closes:?}"
    );
    s.stop();
    s.wait().unwrap();
}

/// `broadcast` from another thread to connections on two shards: plain ones (tungstenite)
/// share one frame per shard, compressed ones (our agent with permessage-deflate) get theirs.
#[test]
fn broadcast_reaches_plain_and_compressed_connections() {
    let (s, l, port) = echo_server();
    let mut plain: Vec<_> = (0..30)
        .map(|_| {
            tungstenite::connect(format!("ws://127.0.0.1:{port}/room"))
                .unwrap()
                .0
        })
        .collect();
    let got = Arc::new(Got::default());
    let agent = WebSocketAgent::builder()
        .shards(1)
        .deflate(Some(DeflateConfig::default()))
        .start(got.clone())
        .unwrap();
    for _ in 0..10 {
        agent
            .connect(&format!("ws://127.0.0.1:{port}/room"), &[])
            .unwrap();
    }
    assert!(wait_until(10, || l.opens.lock().unwrap().len() == 40));
    assert!(wait_until(10, || got.opened.lock().unwrap().len() == 10));
    let all = l.opens.lock().unwrap().clone();
    let shards: std::collections::HashSet<_> = all.iter().map(|c| c.shard()).collect();
    assert_eq!(shards.len(), 2, "connections on both shards");
    let text = "news for everyone ".repeat(20);
    assert_eq!(s.broadcast(&all, Message::Text(&text)), 40);
    for ws in plain.iter_mut() {
        assert_eq!(ws.read().unwrap().into_text().unwrap().as_str(), text);
    }
    assert!(wait_until(10, || got.msgs.lock().unwrap().len() == 10));
    assert!(got
        .msgs
        .lock()
        .unwrap()
        .iter()
        .all(|(t, m)| *t && m == text.as_bytes()));
    agent.stop();
    agent.wait().unwrap();
    s.stop();
    s.wait().unwrap();
}
