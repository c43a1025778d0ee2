//! Helpers shared by the integration tests: recording listeners and blocking peers.
#![allow(dead_code)]

use shardnet::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every close seen, by connection.
#[derive(Default)]
pub struct Record {
    pub closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
    pub accepts: Mutex<Vec<ConnId>>,
    pub shutdowns: AtomicUsize,
    pub received: AtomicUsize,
}

impl Record {
    pub fn close_count(&self, c: ConnId) -> usize {
        self.closes
            .lock()
            .unwrap()
            .iter()
            .filter(|x| x.0 == c)
            .count()
    }
    pub fn closes(&self) -> Vec<(ConnId, SocketOperation, i32)> {
        self.closes.lock().unwrap().clone()
    }
    pub fn duplicates(&self) -> usize {
        let mut m: HashMap<ConnId, usize> = HashMap::new();
        for c in self.closes.lock().unwrap().iter() {
            *m.entry(c.0).or_default() += 1;
        }
        m.values().filter(|&&n| n > 1).count()
    }
}

/// Echo server listener that records accepts/closes/shutdown.
pub struct EchoRec(pub Arc<Record>);

impl ServerListener for EchoRec {
    fn on_accept(
        &self,
        _: &TcpServer,
        c: ConnId,
        _: SocketAddr,
        _: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        self.0.accepts.lock().unwrap().push(c);
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        self.0.received.fetch_add(d.len(), Ordering::Relaxed);
        match s.send(c, d) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.0.closes.lock().unwrap().push((c, op, e));
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpServer) -> HandleResult {
        self.0.shutdowns.fetch_add(1, Ordering::SeqCst);
        HandleResult::Ok
    }
}

/// Polls `f` until true or `secs` pass.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// A deterministic test pattern.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// Writes `data` and reads the same number of bytes back; asserts equality.
pub fn echo_roundtrip(s: &mut TcpStream, data: &[u8]) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let data2 = data.to_vec();
    let writer = std::thread::spawn(move || w.write_all(&data2).unwrap());
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).unwrap();
    writer.join().unwrap();
    assert!(back == data, "echoed bytes differ");
}

pub fn rt(shards: usize) -> Runtime {
    Runtime::builder().shards(shards).build().unwrap()
}
