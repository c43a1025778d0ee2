//! UdpClient seen from raw sockets: heartbeats on connect and every interval, a silent server
//! closed after `attempts` intervals without a datagram to it, ICMP "port unreachable" as
//! `on_close(Receive, ECONNREFUSED)`, the close datagram on stop and from the server.

use shardnet::udp::{UdpClient, UdpClientListener};
use shardnet::{HandleResult, SocketOperation};
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLOSE: [u8; 16] = [
    0xBE, 0xB6, 0x1F, 0xEB, 0xDA, 0x52, 0x46, 0xBA, 0x92, 0x33, 0x59, 0xDB, 0xBF, 0xE6, 0xC8, 0xE4,
];

#[derive(Default)]
struct Log {
    connected: Mutex<bool>,
    got: Mutex<Vec<Vec<u8>>>,
    closes: Mutex<Vec<(SocketOperation, i32)>>,
}

impl UdpClientListener for Log {
    fn on_connect(&self, _: &UdpClient) -> HandleResult {
        *self.connected.lock().unwrap() = true;
        HandleResult::Ok
    }
    fn on_receive(&self, _: &UdpClient, data: &[u8]) -> HandleResult {
        self.got.lock().unwrap().push(data.to_vec());
        HandleResult::Ok
    }
    fn on_close(&self, _: &UdpClient, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((op, e));
        HandleResult::Ok
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn heartbeats_and_a_silent_server() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let port = server.local_addr().unwrap().port();
    let log = Arc::new(Log::default());
    let t = Instant::now();
    let client = UdpClient::builder()
        .detect(Duration::from_millis(100), 3)
        .start("127.0.0.1", port, log.clone())
        .unwrap();
    assert!(*log.connected.lock().unwrap());
    // Data and heartbeats arrive; the server never answers.
    client.send(b"data").unwrap();
    let mut b = [0u8; 64];
    let mut heartbeats = 0;
    let mut data = 0;
    while t.elapsed() < Duration::from_millis(800) {
        if let Ok((n, from)) = server.recv_from(&mut b) {
            assert_eq!(from, client.local_addr().unwrap());
            match n {
                0 => heartbeats += 1,
                _ => {
                    assert_eq!(&b[..n], b"data");
                    data += 1
                }
            }
        }
    }
    assert_eq!(data, 1);
    // One at connect, then every 100 ms until 3 went unanswered: the client gives up silently.
    assert!((3..=5).contains(&heartbeats), "{heartbeats} heartbeats");
    wait_for("silent close", || !log.closes.lock().unwrap().is_empty());
    assert_eq!(
        *log.closes.lock().unwrap(),
        vec![(SocketOperation::Close, libc::ETIMEDOUT)]
    );
    client.wait().unwrap();
    // No close datagram after a timeout.
    while let Ok((n, _)) = server.recv_from(&mut b) {
        assert_ne!(&b[..n], &CLOSE[..]);
    }
}

#[test]
fn port_unreachable_and_close_datagrams() {
    // Nobody listens: the kernel's ICMP answer closes the client with ECONNREFUSED.
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let log = Arc::new(Log::default());
    let client = UdpClient::builder()
        .start("127.0.0.1", port, log.clone())
        .unwrap();
    // The heartbeat sent on connect already draws the ICMP answer; this send may find the
    // client closed.
    let _ = client.send(b"anyone?");
    wait_for("refused", || !log.closes.lock().unwrap().is_empty());
    assert_eq!(
        log.closes.lock().unwrap()[0],
        (SocketOperation::Receive, libc::ECONNREFUSED)
    );
    client.wait().unwrap();

    // A server's close datagram closes (Close, 0); stop sends one to the server.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let port = server.local_addr().unwrap().port();
    let log = Arc::new(Log::default());
    let client = UdpClient::builder()
        .start("127.0.0.1", port, log.clone())
        .unwrap();
    let mut b = [0u8; 64];
    let (_, from) = server.recv_from(&mut b).unwrap(); // the first heartbeat
    server.send_to(b"hi", from).unwrap();
    wait_for("data", || log.got.lock().unwrap().len() == 1);
    server.send_to(&CLOSE, from).unwrap();
    wait_for("closed", || !log.closes.lock().unwrap().is_empty());
    assert_eq!(log.closes.lock().unwrap()[0], (SocketOperation::Close, 0));
    client.wait().unwrap();

    let log = Arc::new(Log::default());
    let client = UdpClient::builder()
        .start("127.0.0.1", port, log.clone())
        .unwrap();
    let (_, from) = server.recv_from(&mut b).unwrap();
    assert_eq!(from, client.local_addr().unwrap());
    client.stop();
    client.wait().unwrap();
    let (n, _) = server.recv_from(&mut b).unwrap();
    assert_eq!(&b[..n], &CLOSE[..]);
    assert_eq!(
        *log.closes.lock().unwrap(),
        vec![(SocketOperation::Close, 0)]
    );
}
