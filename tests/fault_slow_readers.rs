//! 1,000 connections that never read while the server keeps sending to them: each connection's
//! queue stops at `max_pending_bytes` (the next `send` is `QueueFull`, nothing is closed), the
//! process's resident memory grows by at most 1,000 × that bound plus a constant, and one more
//! connection that does read still gets 4 MiB through in reasonable time.

mod support;

use shardnet::*;
use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const SLOW: usize = 1_000;
const MAX_PENDING: usize = 256 << 10;
const CHUNK: usize = 32 << 10;

fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

#[test]
fn slow_readers_are_bounded_and_do_not_starve_a_fast_one() {
    raise_fd_limit();
    let echo = Arc::new(ModelEcho {
        // Small kernel buffers: what the readers leave unread stays in shardnet's queues.
        sndbuf: Some(16 << 10),
        ..ModelEcho::default()
    });
    let server = TcpServer::builder()
        .runtime(rt(2))
        .max_pending_bytes(MAX_PENDING)
        .start("127.0.0.1:0", echo.clone())
        .unwrap();
    let addr = server.listen_addr().unwrap();
    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            socket2::SockRef::from(&s)
                .set_recv_buffer_size(4 << 10)
                .unwrap();
            s
        })
        .collect();
    assert!(wait_until(10, || server.connection_count() == SLOW));
    let ids = server.connection_ids();
    let baseline = fast_transfer(&server, ids.len());
    let rss0 = rss_kb();

    // Send to every slow connection until each one refuses.
    let chunk = vec![0x5Au8; CHUNK];
    let mut full = vec![false; ids.len()];
    let mut refused = 0usize;
    let t0 = Instant::now();
    while full.iter().any(|f| !f) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "queues never filled"
        );
        for (i, &c) in ids.iter().enumerate() {
            if full[i] {
                continue;
            }
            match server.send(c, &chunk) {
                Ok(()) => {}
                Err(Error::QueueFull { .. }) => {
                    full[i] = true;
                    refused += 1;
                }
                Err(e) => panic!("send to a slow reader: {e:?}"),
            }
            let p = server.pending_data_length(c).unwrap();
            assert!(p <= MAX_PENDING, "{p} bytes pending over the bound");
        }
    }
    assert_eq!(refused, SLOW);
    assert_eq!(server.connection_count(), SLOW, "a slow reader was closed");
    let queued: usize = ids
        .iter()
        .map(|&c| server.pending_data_length(c).unwrap())
        .sum();
    let rss1 = rss_kb();
    let grown = rss1.saturating_sub(rss0);
    let bound = (SLOW * MAX_PENDING / 1024) as u64 + 64 * 1024;
    eprintln!(
        "{SLOW} slow readers: {} MiB queued, RSS {rss0} -> {rss1} kB (+{grown} kB, bound {bound} kB)",
        queued >> 20
    );
    assert!(
        queued >= SLOW * (MAX_PENDING - CHUNK),
        "queues not full: {queued}"
    );
    assert!(grown <= bound, "RSS grew by {grown} kB, over {bound} kB");

    // A reader next to them gets 4 MiB through about as fast as before the queues filled.
    let loaded = fast_transfer(&server, ids.len());
    eprintln!("fast reader: 4 MiB in {baseline:?} before, {loaded:?} beside {SLOW} full queues");
    assert!(
        loaded < baseline * 3 + Duration::from_secs(1),
        "starved: {loaded:?} vs {baseline:?}"
    );
    drop(slow);
    assert!(wait_until(10, || server.connection_count() == 0));
    server.stop();
    server.wait().unwrap();
}

/// Opens one more connection, sends it 4 MiB from another thread (retrying on QueueFull, as a
/// sender that respects the bound does), reads it all, closes it; returns the time taken.
fn fast_transfer(server: &TcpServer, others: usize) -> Duration {
    let known = server.connection_ids();
    let mut fast = TcpStream::connect(server.listen_addr().unwrap()).unwrap();
    fast.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert!(wait_until(10, || server.connection_count() == others + 1));
    let id = *server
        .connection_ids()
        .iter()
        .find(|c| !known.contains(c))
        .unwrap();
    let total = 4 << 20;
    let t0 = Instant::now();
    let writer = {
        let server = server.clone();
        std::thread::spawn(move || {
            let block = vec![0xA5u8; CHUNK];
            let mut sent = 0;
            while sent < total {
                match server.send(id, &block) {
                    Ok(()) => sent += block.len(),
                    Err(Error::QueueFull { .. }) => std::thread::sleep(Duration::from_micros(200)),
                    Err(e) => panic!("send to the fast reader: {e:?}"),
                }
            }
        })
    };
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    while got < total {
        let n = fast.read(&mut buf).unwrap();
        assert!(n > 0, "fast reader closed after {got} bytes");
        assert!(buf[..n].iter().all(|&b| b == 0xA5));
        got += n;
    }
    writer.join().unwrap();
    let took = t0.elapsed();
    drop(fast);
    assert!(wait_until(10, || server.connection_count() == others));
    took
}
