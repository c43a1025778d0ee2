//! Pull model: `on_pull_receive(conn, total)` announces buffered bytes, `fetch` / `peek` take
//! them from any thread; LengthTooLong consumes nothing, DataNotFound after close; a full
//! connection stops being read until the application fetches, and nothing is lost.

mod support;
use shardnet::*;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// Records announcements and closes; fetches nothing itself.
#[derive(Default)]
struct Hold {
    totals: Mutex<Vec<(ConnId, usize)>>,
    closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
    fail_on_receive: bool,
}

impl ServerListener for Hold {
    fn on_receive(&self, _: &TcpServer, _: ConnId, _: &[u8]) -> HandleResult {
        panic!("push callback called under Pull");
    }
    fn on_pull_receive(&self, _: &TcpServer, c: ConnId, total: usize) -> HandleResult {
        self.totals.lock().unwrap().push((c, total));
        if self.fail_on_receive {
            HandleResult::Error
        } else {
            HandleResult::Ok
        }
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((c, op, e));
        HandleResult::Ok
    }
}

fn pull_server(l: Arc<Hold>, limit: usize) -> TcpServer {
    TcpServer::builder()
        .runtime(rt(2))
        .pull()
        .pull_buffer_limit(limit)
        .start("127.0.0.1:0", l)
        .unwrap()
}

fn last_total(l: &Hold) -> usize {
    l.totals.lock().unwrap().last().map_or(0, |t| t.1)
}

fn store_is_empty(s: &TcpServer) -> bool {
    s.pull_stats()
        .iter()
        .all(|p| p.chains == 0 && p.buffered == 0 && p.blocks_in_use == 0)
}

#[test]
fn fetch_peek_length_too_long_and_data_not_found() {
    let l = Arc::new(Hold::default());
    let server = pull_server(l.clone(), 1 << 20);
    let mut peer = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    peer.write_all(b"0123456789").unwrap();
    assert!(wait_until(10, || last_total(&l) == 10));
    let c = l.totals.lock().unwrap()[0].0;
    // All from this (foreign) thread.
    let mut eleven = [0u8; 11];
    assert_eq!(server.fetch(c, &mut eleven), FetchResult::LengthTooLong);
    assert_eq!(server.pull_buffered(c), Some(10), "nothing consumed");
    let mut four = [0u8; 4];
    assert_eq!(server.peek(c, &mut four), FetchResult::Ok);
    assert_eq!(&four, b"0123");
    assert_eq!(server.pull_buffered(c), Some(10), "peek consumes nothing");
    let mut six = [0u8; 6];
    assert_eq!(server.fetch(c, &mut six), FetchResult::Ok);
    assert_eq!(&six, b"012345");
    assert_eq!(server.fetch(c, &mut four), FetchResult::Ok);
    assert_eq!(&four, b"6789");
    assert_eq!(server.pull_buffered(c), Some(0));
    assert_eq!(server.fetch(c, &mut [0u8; 1]), FetchResult::LengthTooLong);
    assert!(store_is_empty(&server));
    // The next arrival announces only what is buffered now.
    peer.write_all(b"abc").unwrap();
    assert!(wait_until(10, || l.totals.lock().unwrap().len() >= 2));
    assert_eq!(last_total(&l), 3);
    // Close with bytes still buffered: DataNotFound, and the blocks go back.
    drop(peer);
    assert!(wait_until(10, || l.closes.lock().unwrap().len() == 1));
    assert_eq!(
        l.closes.lock().unwrap()[0],
        (c, SocketOperation::Close, 0),
        "peer FIN"
    );
    assert_eq!(server.fetch(c, &mut four), FetchResult::DataNotFound);
    assert_eq!(server.peek(c, &mut four), FetchResult::DataNotFound);
    assert_eq!(server.pull_buffered(c), None);
    assert!(store_is_empty(&server));
    server.stop();
    server.wait().unwrap();
}

/// 4 MiB from a peer into a 64 KiB limit with nobody fetching: reading stops near the limit;
/// a foreign thread then fetches everything in odd-sized chunks and gets every byte in order.
#[test]
fn limit_pauses_reading_and_fetch_resumes_it() {
    const LIMIT: usize = 64 << 10;
    const TOTAL: usize = 4 << 20;
    let l = Arc::new(Hold::default());
    let server = pull_server(l.clone(), LIMIT);
    let mut peer = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    let data = pattern(TOTAL, 42);
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        peer.write_all(&sent).unwrap();
        peer
    });
    assert!(wait_until(10, || last_total(&l) >= LIMIT));
    let c = l.totals.lock().unwrap()[0].0;
    std::thread::sleep(Duration::from_millis(200));
    // At most one read (tail spare + one block) past the limit.
    let block = server.config().socket_buffer_size;
    let held = server.pull_buffered(c).unwrap();
    assert!(
        (LIMIT..=LIMIT + 2 * block).contains(&held),
        "held {held} with a limit of {LIMIT}"
    );
    assert!(l
        .totals
        .lock()
        .unwrap()
        .iter()
        .all(|t| t.1 <= LIMIT + 2 * block));
    let srv = server.clone();
    let fetcher = std::thread::spawn(move || {
        let mut got = Vec::with_capacity(TOTAL);
        let mut chunk = vec![0u8; 10_007];
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while got.len() < TOTAL && std::time::Instant::now() < deadline {
            let want = chunk.len().min(TOTAL - got.len());
            match srv.fetch(c, &mut chunk[..want]) {
                FetchResult::Ok => got.extend_from_slice(&chunk[..want]),
                FetchResult::LengthTooLong => std::thread::sleep(Duration::from_micros(200)),
                FetchResult::DataNotFound => break,
            }
        }
        got
    });
    let got = fetcher.join().unwrap();
    let _peer = writer.join().unwrap();
    assert_eq!(got.len(), TOTAL, "every byte fetched");
    assert!(got == data, "bytes in order");
    assert!(store_is_empty(&server));
    assert!(l.closes.lock().unwrap().is_empty());
    server.stop();
    server.wait().unwrap();
}

/// Fetching inside the callback, a few bytes at a time, from many connections on 2 shards.
#[test]
fn fetch_inside_the_callback_on_two_shards() {
    struct Chunked {
        echoed: AtomicUsize,
    }
    impl ServerListener for Chunked {
        fn on_receive(&self, _: &TcpServer, _: ConnId, _: &[u8]) -> HandleResult {
            HandleResult::Error
        }
        fn on_pull_receive(&self, s: &TcpServer, c: ConnId, total: usize) -> HandleResult {
            // Take 7 bytes at a time while there are 7; leave the rest for the next call.
            let mut buf = [0u8; 7];
            let mut left = total;
            while left >= 7 {
                assert_eq!(s.fetch(c, &mut buf), FetchResult::Ok);
                s.send(c, &buf).unwrap();
                self.echoed.fetch_add(7, Ordering::Relaxed);
                left -= 7;
            }
            assert_eq!(s.pull_buffered(c), Some(left));
            HandleResult::Ok
        }
        fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    let l = Arc::new(Chunked {
        echoed: AtomicUsize::new(0),
    });
    let server = TcpServer::builder()
        .runtime(rt(2))
        .pull()
        .start("127.0.0.1:0", l.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let peers: Vec<_> = (0..20)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                // A multiple of 7 so that everything comes back.
                echo_roundtrip(&mut s, &pattern(7 * (1 + i * 1000), i as u64));
            })
        })
        .collect();
    for p in peers {
        p.join().unwrap();
    }
    let want: usize = (0..20).map(|i| 7 * (1 + i * 1000)).sum();
    // The count is bumped just after the send, so the peer may see its echo first.
    assert!(wait_until(5, || l.echoed.load(Ordering::Relaxed) == want));
    assert!(wait_until(5, || store_is_empty(&server)));
    server.stop();
    server.wait().unwrap();
}

/// on_pull_receive returning Error closes with (Receive, ECANCELED) and frees the blocks; a
/// second connection keeps working.
#[test]
fn callback_error_closes_and_frees() {
    let l = Arc::new(Hold {
        fail_on_receive: true,
        ..Default::default()
    });
    let server = pull_server(l.clone(), 1 << 20);
    let addr = server.listen_addr().unwrap();
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.write_all(&[9u8; 5000]).unwrap();
    assert!(peer_closed(&mut bad, 10));
    assert!(wait_until(5, || l.closes.lock().unwrap().len() == 1));
    assert_eq!(l.closes.lock().unwrap()[0].1, SocketOperation::Receive);
    assert_eq!(l.closes.lock().unwrap()[0].2, CALLBACK_ERROR);
    assert!(store_is_empty(&server));
    server.stop();
    server.wait().unwrap();
}

/// Pull is a server-side choice; Push and Pack components report DataNotFound.
#[test]
fn fetch_on_a_push_component_is_data_not_found() {
    let rec = Arc::new(Record::default());
    let server = TcpServer::builder()
        .runtime(rt(1))
        .start("127.0.0.1:0", Arc::new(EchoRec(rec.clone())))
        .unwrap();
    let mut peer = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    echo_roundtrip(&mut peer, b"x");
    let c = rec.accepts.lock().unwrap()[0];
    assert_eq!(server.fetch(c, &mut [0u8; 1]), FetchResult::DataNotFound);
    assert_eq!(server.pull_buffered(c), None);
    assert!(server.pull_stats().is_empty());
    server.stop();
    server.wait().unwrap();
}
