//! Silence tracking: connect/silence periods from any thread, the two disconnect sweeps, and the
//! optional idle timeout (on_close(Close, ETIMEDOUT)); active connections are spared.

mod support;
use shardnet::*;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// Keeps `s` talking every 30 ms until `stop`.
fn chatter(mut s: TcpStream, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if s.write_all(b".").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    })
}

fn id_of(server: &TcpServer, s: &TcpStream) -> ConnId {
    let local = s.local_addr().unwrap();
    *server
        .connection_ids()
        .iter()
        .find(|c| server.remote_addr(**c) == Some(local))
        .unwrap()
}

#[test]
fn periods_and_sweeps() {
    let rec = Arc::new(Record::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .start("127.0.0.1:0", Arc::new(EchoRec(rec.clone())))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let quiet: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let busy = TcpStream::connect(addr).unwrap();
    assert!(wait_until(5, || server.connection_count() == 3));
    let (q0, q1, b) = (
        id_of(&server, &quiet[0]),
        id_of(&server, &quiet[1]),
        id_of(&server, &busy),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let t = chatter(busy.try_clone().unwrap(), stop.clone());
    std::thread::sleep(Duration::from_millis(400));
    assert!(server.silence_period(q0).unwrap() >= Duration::from_millis(350));
    assert!(server.silence_period(b).unwrap() < Duration::from_millis(200));
    assert!(server.connect_period(b).unwrap() >= Duration::from_millis(350));
    assert_eq!(
        server.disconnect_silence_connections(Duration::from_millis(300), true),
        2
    );
    assert!(wait_until(5, || rec.closes().len() == 2));
    let mut closed: Vec<ConnId> = rec.closes().iter().map(|c| c.0).collect();
    closed.sort();
    let mut want = vec![q0, q1];
    want.sort();
    assert_eq!(closed, want);
    assert!(server.is_connected(b));
    // The busy one is young in silence but old in age.
    assert_eq!(
        server.disconnect_long_connections(Duration::from_secs(60), true),
        0
    );
    assert_eq!(
        server.disconnect_long_connections(Duration::from_millis(300), true),
        1
    );
    assert!(wait_until(5, || rec.close_count(b) == 1));
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    assert!(server.silence_period(b).is_none(), "gone after close");
    server.stop();
    server.wait().unwrap();
}

#[test]
fn idle_timeout_closes_only_silent_connections() {
    let rec = Arc::new(Record::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .idle_timeout(Duration::from_millis(300))
        .start("127.0.0.1:0", Arc::new(EchoRec(rec.clone())))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let quiet = TcpStream::connect(addr).unwrap();
    let busy = TcpStream::connect(addr).unwrap();
    assert!(wait_until(5, || server.connection_count() == 2));
    let (q, b) = (id_of(&server, &quiet), id_of(&server, &busy));
    let stop = Arc::new(AtomicBool::new(false));
    let t = chatter(busy.try_clone().unwrap(), stop.clone());
    let start = std::time::Instant::now();
    assert!(wait_until(5, || rec.close_count(q) == 1));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "closed too late: {took:?}"
    );
    assert_eq!(
        rec.closes()[0],
        (q, SocketOperation::Close, libc::ETIMEDOUT)
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(server.is_connected(b), "an active connection survives");
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    drop(busy);
    server.stop();
    server.wait().unwrap();
}
