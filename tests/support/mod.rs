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
    raise_fd_limit();
    Runtime::builder().shards(shards).build().unwrap()
}

/// Raises this test process's open-file soft limit to its hard limit (once): tests hold up to
/// ~2,000 sockets, more than a stock 1,024 soft limit, so `cargo test` needs no `ulimit` first.
pub fn raise_fd_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read/write the struct passed by pointer.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    });
}

/// One event seen by a recording listener, in the order the callbacks ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Accept(ConnId, SocketAddr),
    Connect(ConnId),
    Close(ConnId, SocketOperation, i32),
    Shutdown,
}

/// An ordered event log plus the bytes received per connection.
#[derive(Default)]
pub struct Log {
    pub events: Mutex<Vec<Ev>>,
    pub data: Mutex<HashMap<ConnId, Vec<u8>>>,
}

impl Log {
    pub fn push(&self, e: Ev) {
        self.events.lock().unwrap().push(e);
    }
    pub fn events(&self) -> Vec<Ev> {
        self.events.lock().unwrap().clone()
    }
    pub fn accepts(&self) -> Vec<(ConnId, SocketAddr)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Accept(c, a) => Some((c, a)),
                _ => None,
            })
            .collect()
    }
    pub fn connects(&self) -> Vec<ConnId> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Connect(c) => Some(c),
                _ => None,
            })
            .collect()
    }
    pub fn closes(&self) -> Vec<(ConnId, SocketOperation, i32)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Close(c, o, n) => Some((c, o, n)),
                _ => None,
            })
            .collect()
    }
    pub fn shutdowns(&self) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, Ev::Shutdown))
            .count()
    }
    /// The connection the server accepted from the client socket whose local address is `peer`.
    pub fn conn_for_peer(&self, peer: SocketAddr) -> Option<ConnId> {
        self.accepts()
            .into_iter()
            .find(|(_, a)| *a == peer)
            .map(|(c, _)| c)
    }
    pub fn add_data(&self, c: ConnId, d: &[u8]) {
        self.data
            .lock()
            .unwrap()
            .entry(c)
            .or_default()
            .extend_from_slice(d);
    }
    pub fn data_of(&self, c: ConnId) -> Vec<u8> {
        self.data
            .lock()
            .unwrap()
            .get(&c)
            .cloned()
            .unwrap_or_default()
    }
    pub fn data_len(&self, c: ConnId) -> usize {
        self.data.lock().unwrap().get(&c).map_or(0, |v| v.len())
    }
    /// Asserts: each of `ids` closed exactly once, nothing else closed, and the one
    /// `on_shutdown` is the last event.
    pub fn assert_closed_then_shutdown(&self, ids: &[ConnId]) {
        let ev = self.events();
        let closes = self.closes();
        assert_eq!(closes.len(), ids.len(), "close count: {closes:?}");
        for id in ids {
            let n = closes.iter().filter(|c| c.0 == *id).count();
            assert_eq!(n, 1, "on_close count for {id}");
        }
        assert_eq!(self.shutdowns(), 1, "on_shutdown count");
        assert_eq!(
            ev.last(),
            Some(&Ev::Shutdown),
            "on_shutdown is the last event"
        );
    }
}

/// True when the peer has closed `s` (read returns 0 or a hard error) within `secs`; data
/// that arrives first is discarded.
pub fn peer_closed(s: &mut TcpStream, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// True when nothing arrives on `s` for `ms` milliseconds (the connection stays open and
/// silent).
pub fn silent_for(s: &mut TcpStream, ms: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
    let mut b = [0u8; 1];
    let r = s.read(&mut b);
    matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock
        || e.kind() == std::io::ErrorKind::TimedOut)
}

/// Reads exactly `n` bytes with an overall read timeout of `secs` per read.
pub fn read_n(s: &mut TcpStream, n: usize, secs: u64) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).unwrap();
    v
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

/// A free loopback port (bound, then released) for a server started by port number.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A client socket with a 4 KiB receive buffer, set before connecting so the window is small
/// from the handshake on (a slow reader the server must queue for).
pub fn small_window_client(addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&addr.into()).unwrap();
    s.into()
}

/// Echo in every receive model (Pull fetches everything buffered and echoes it); records
/// closes and bytes received, and can shrink accepted sockets' kernel send buffer.
#[derive(Default)]
pub struct ModelEcho {
    pub closes: Mutex<Vec<(ConnId, SocketOperation, i32)>>,
    pub received: AtomicUsize,
    /// SO_SNDBUF for accepted sockets: small, so the kernel cannot absorb what a slow reader
    /// leaves queued (it would otherwise take megabytes and the server's queue would drain).
    pub sndbuf: Option<usize>,
}

impl ServerListener for ModelEcho {
    fn on_accept(
        &self,
        _: &TcpServer,
        _: ConnId,
        _: SocketAddr,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        if let Some(n) = self.sndbuf {
            socket2::SockRef::from(&fd).set_send_buffer_size(n).unwrap();
        }
        HandleResult::Ok
    }
    fn on_receive(&self, s: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        self.received.fetch_add(d.len(), Ordering::SeqCst);
        match s.send(c, d) {
            Ok(()) => HandleResult::Ok,
            Err(_) => HandleResult::Error,
        }
    }
    fn on_pull_receive(&self, s: &TcpServer, c: ConnId, total: usize) -> HandleResult {
        let mut buf = vec![0u8; total];
        if s.fetch(c, &mut buf) != FetchResult::Ok {
            return HandleResult::Error;
        }
        self.on_receive(s, c, &buf)
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        self.closes.lock().unwrap().push((c, op, e));
        HandleResult::Ok
    }
}

/// A directory under the system temp dir that is removed, with everything in it, when dropped
/// (also when the test panics), so test runs leave nothing behind on the disk.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/shardnet-<tag>-<pid>-<n>` afresh (`n` tells apart dirs of one process).
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("shardnet-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
