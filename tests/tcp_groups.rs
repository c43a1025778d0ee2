//! Groups on a two-shard TcpServer: join from another thread, send_group reaching every member
//! once (but the one excepted) on both shards, leave, automatic leave on close, and members
//! over their send-queue bound skipped and counted.

use shardnet::*;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Log {
    conns: Mutex<Vec<(ConnId, SocketAddr)>>,
}

impl ServerListener for Log {
    fn on_accept(
        &self,
        _: &TcpServer,
        c: ConnId,
        p: SocketAddr,
        _: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        self.conns.lock().unwrap().push((c, p));
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpServer, _: ConnId, _: &[u8]) -> HandleResult {
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
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

fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    b
}

fn nothing_more(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut b = [0u8; 16];
    assert!(s.read(&mut b).is_err(), "unexpected bytes");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
}

#[test]
fn join_send_leave_and_close() {
    let log = Arc::new(Log::default());
    let server = TcpServer::builder()
        .shards(2)
        .start("127.0.0.1:0", log.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let mut clients: Vec<TcpStream> = (0..200)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect();
    wait_for("200 accepted", || log.conns.lock().unwrap().len() == 200);
    let conns = log.conns.lock().unwrap().clone();
    let id_of = |s: &TcpStream| {
        let me = s.local_addr().unwrap();
        conns.iter().find(|c| c.1 == me).unwrap().0
    };
    let ids: Vec<ConnId> = clients.iter().map(id_of).collect();
    assert!(ids.iter().any(|c| c.shard().0 == 0) && ids.iter().any(|c| c.shard().0 == 1));
    for (i, &c) in ids.iter().enumerate() {
        server.join(1, c).unwrap();
        if i % 2 == 0 {
            server.join(2, c).unwrap();
        }
    }
    server.join(1, ids[0]).unwrap(); // twice: still one membership
                                     // Joins are applied on the members' shards; a group send queued after them sees them.
    std::thread::sleep(Duration::from_millis(50));
    server.send_group(1, b"hello all", Some(ids[3])).unwrap();
    for (i, s) in clients.iter_mut().enumerate() {
        if i == 3 {
            nothing_more(s);
        } else {
            assert_eq!(read_exactly(s, 9), b"hello all");
        }
    }
    server.send_group(2, b"evens", None).unwrap();
    for (i, s) in clients.iter_mut().enumerate() {
        if i % 2 == 0 {
            assert_eq!(read_exactly(s, 5), b"evens");
        }
    }
    nothing_more(&mut clients[1]);
    assert_eq!(server.group_stats().delivered, 199 + 100);
    // Leave, and 50 clients close: the next send reaches the 149 others only.
    server.leave(1, ids[5]).unwrap();
    clients.drain(150..);
    wait_for("closes", || server.connection_count() == 150);
    std::thread::sleep(Duration::from_millis(50));
    server.send_group(1, b"again", None).unwrap();
    for (i, s) in clients.iter_mut().enumerate() {
        if i == 5 {
            nothing_more(s);
        } else {
            assert_eq!(read_exactly(s, 5), b"again");
        }
    }
    let st = server.group_stats();
    assert_eq!(st.delivered, 199 + 100 + 149);
    assert_eq!(st.skipped, 0, "closed members left their groups");
    assert!(server.join(3, ConnId::from_u64(12345)).is_err());
    server.stop();
    server.wait().unwrap();
}

#[test]
fn a_member_that_does_not_read_is_skipped_not_waited_for() {
    let log = Arc::new(Log::default());
    let server = TcpServer::builder()
        .shards(1)
        .max_pending_bytes(64 << 10)
        .start("127.0.0.1:0", log.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let mut reader = TcpStream::connect(addr).unwrap();
    let _sleeper = TcpStream::connect(addr).unwrap(); // never reads
    wait_for("2 accepted", || log.conns.lock().unwrap().len() == 2);
    for (c, _) in log.conns.lock().unwrap().iter() {
        server.join(9, *c).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let msg = vec![7u8; 16 << 10];
    reader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    // 800 messages (12.8 MB), each sent once the reader has the previous one: the reader's
    // queue never holds more than one, the sleeper's passes its 64 KiB bound (and its socket
    // buffers) and is skipped from then on.
    let mut got = 0usize;
    for k in 1..=800 {
        server.send_group(9, &msg, None).unwrap();
        while got < k * msg.len() {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0);
            got += n;
        }
    }
    assert_eq!(got, 800 * msg.len(), "the reading member got every message");
    wait_for("counts", || {
        let s = server.group_stats();
        s.delivered + s.skipped == 1600
    });
    assert!(server.group_stats().skipped > 0, "the sleeper was skipped");
    server.stop();
    server.wait().unwrap();
}
