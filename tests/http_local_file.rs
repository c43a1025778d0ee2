//! `HttpServer::send_local_file` / `Response::file`: files of any size streamed from a memory
//! map with a bounded send queue, to curl (plain and HTTPS) and to raw sockets: exact bytes,
//! pipelined answers kept in order behind a file, answers from another thread, HEAD, release.

mod support;
mod tls_support;

use shardnet::http::*;
use shardnet::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// A file of `len` pattern bytes in a fresh directory (removed with the returned guard).
fn big_file(tag: &str, len: usize) -> (TempDir, PathBuf, Vec<u8>) {
    let dir = TempDir::new(&format!("file-{tag}"));
    let data = pattern(len, len as u64);
    let path = dir.join("big.bin");
    std::fs::write(&path, &data).unwrap();
    (dir, path, data)
}

/// Reads a head (up to the blank line) and returns it with whatever followed.
fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(i + 4);
            return (String::from_utf8(got).unwrap(), rest);
        }
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed inside a head: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Serves `/big` with the file through the handler path, anything else as text.
fn file_server(path: PathBuf) -> HttpServer {
    HttpServer::builder()
        .runtime(rt(2))
        .serve("127.0.0.1:0", move |req: &Request| {
            if req.target() == "/big" {
                Response::file(200, path.clone()).header("Content-Type", "application/octet-stream")
            } else if req.target() == "/missing" {
                Response::file(200, "/nonexistent/file")
            } else {
                Response::new(200, format!("small {}", req.target()))
            }
        })
        .unwrap()
}

#[test]
fn curl_downloads_a_large_file_byte_exact() {
    let (_dir, path, data) = big_file("curl", 40 << 20);
    let s = file_server(path.clone());
    let port = s.listen_addr().unwrap().port();
    let out = path.with_extension("got");
    let st = Command::new("curl")
        .args(["-sS", "-o"])
        .arg(&out)
        .arg(format!("http://127.0.0.1:{port}/big"))
        .arg("-o")
        .arg(path.with_extension("got2"))
        .arg(format!("http://127.0.0.1:{port}/big"))
        .status()
        .unwrap();
    assert!(st.success());
    // Two downloads on one keep-alive connection, both exact.
    assert!(std::fs::read(&out).unwrap() == data);
    assert!(std::fs::read(path.with_extension("got2")).unwrap() == data);
    // HEAD: the length, no body.
    let head = Command::new("curl")
        .args(["-sSI", &format!("http://127.0.0.1:{port}/big")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&head.stdout);
    assert!(
        text.contains(&format!("Content-Length: {}", 40 << 20)),
        "{text}"
    );
    // A file that cannot be opened when the answer is sent: 500, not a hang.
    let missing = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}/missing"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "500");
    s.stop();
    s.wait().unwrap();
}

#[test]
fn pipelined_answers_wait_behind_the_file_and_the_queue_stays_bounded() {
    let (_dir, path, data) = big_file("pipe", 24 << 20);
    let s = file_server(path);
    let addr = s.listen_addr().unwrap();
    let mut c = small_window_client(addr);
    // Three requests in one write: a file between two small answers.
    c.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    // Read slowly at first while watching the server's queue for this connection.
    let conn = {
        let mut ids = Vec::new();
        assert!(wait_until(5, || {
            ids = s.connection_ids();
            ids.len() == 1
        }));
        ids[0]
    };
    let (h1, mut rest) = read_head(&mut c);
    assert!(h1.starts_with("HTTP/1.1 200"), "{h1}");
    let n1 = content_length(&h1);
    while rest.len() < n1 {
        let mut b = [0u8; 4096];
        let n = c.read(&mut b).unwrap();
        rest.extend_from_slice(&b[..n]);
    }
    assert_eq!(&rest[..n1], b"small /a");
    rest.drain(..n1);
    let mut max_pending = 0;
    let mut body = rest;
    let mut buf = vec![0u8; 16384];
    // The second head, then the file, read 16 KiB at a time with pauses.
    let mut c2 = c.try_clone().unwrap();
    let head_end = loop {
        if let Some(i) = body.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = c2.read(&mut buf).unwrap();
        body.extend_from_slice(&buf[..n]);
    };
    let h2 = String::from_utf8(body[..head_end].to_vec()).unwrap();
    assert!(h2.starts_with("HTTP/1.1 200"), "{h2}");
    assert_eq!(content_length(&h2), data.len());
    let mut file = body.split_off(head_end);
    let mut reads = 0;
    while file.len() < data.len() {
        let n = c2.read(&mut buf).unwrap();
        assert!(n > 0);
        file.extend_from_slice(&buf[..n]);
        reads += 1;
        if reads % 64 == 0 {
            max_pending = max_pending.max(s.pending_data_length(conn).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // What followed the file is the third answer, intact.
    let tail = file.split_off(data.len());
    assert!(file == data, "file bytes differ");
    let mut after = tail;
    while !after.ends_with(b"small /b") {
        let n = c2.read(&mut buf).unwrap();
        assert!(n > 0, "{:?}", String::from_utf8_lossy(&after));
        after.extend_from_slice(&buf[..n]);
    }
    assert!(after.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(
        max_pending <= 2 << 20,
        "the send queue held {max_pending} bytes of a 24 MiB file"
    );
    eprintln!("largest send queue seen while streaming: {max_pending} bytes");
    s.stop();
    s.wait().unwrap();
}

/// Callback path: the file and a later answer are sent from another thread; `release` after
/// them closes only once the file has left.
#[test]
fn from_another_thread_in_order_then_release() {
    let (_dir, path, data) = big_file("thread", 8 << 20);
    struct L {
        path: PathBuf,
        tx: Mutex<std::sync::mpsc::Sender<ConnId>>,
    }
    impl HttpServerListener for L {
        fn on_message_complete(&self, _: &HttpServer, c: ConnId, _: &RequestInfo) -> HandleResult {
            self.tx.lock().unwrap().send(c).unwrap();
            HandleResult::Ok
        }
        fn on_close(&self, _: &HttpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let l = Arc::new(L {
        path: path.clone(),
        tx: Mutex::new(tx),
    });
    let s = HttpServer::builder()
        .runtime(rt(2))
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let mut c = TcpStream::connect(s.listen_addr().unwrap()).unwrap();
    c.write_all(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let conn = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let s2 = s.clone();
    std::thread::spawn(move || {
        s2.send_local_file(conn, 200, &[], &l.path).unwrap();
        s2.send_response(conn, 200, None, &[], b"after the file")
            .unwrap();
        s2.release(conn).unwrap();
    })
    .join()
    .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    let i = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got[..i].starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(got[i..i + data.len()] == data[..], "file bytes");
    let second = &got[i + data.len()..];
    assert!(
        second.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(second)
    );
    assert!(second.ends_with(b"after the file"));
    s.stop();
    s.wait().unwrap();
}

#[test]
fn https_large_file_with_curl() {
    let (_dir, path, data) = big_file("tls", 12 << 20);
    let ca = tls_support::Ca::new("file CA");
    let leaf = ca.server(&["localhost"]);
    let dir = tls_support::temp_dir("file-tls");
    let ca_file = tls_support::write(&dir, "ca.pem", &ca.pem);
    let tls = tls_support::https_config(&leaf);
    let p2 = path.clone();
    let s = HttpServer::builder()
        .runtime(rt(2))
        .tls(tls)
        .serve("127.0.0.1:0", move |_: &Request| {
            Response::file(200, p2.clone())
        })
        .unwrap();
    let port = s.listen_addr().unwrap().port();
    let out = path.with_extension("tls");
    let st = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca_file)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1"), "-o"])
        .arg(&out)
        .arg(format!("https://localhost:{port}/big"))
        .status()
        .unwrap();
    assert!(st.success());
    assert!(std::fs::read(&out).unwrap() == data);
    s.stop();
    s.wait().unwrap();
}
