//! The per-shard budget for queued send bytes (`shard_send_budget`).
//!
//! Each connection's own bound (`max_pending_bytes`) does not bound the total: 500 slow readers
//! under a 4 MiB bound may hold 2 GB. With a budget, the shard's connections together hold at
//! most that many unsent bytes; past it `send` returns `QueueFull` and `send_refused` counts it.
//! Memory comes back as readers drain, and sending resumes.

mod support;

use shardnet::*;
use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// A server whose accepted sockets have a small kernel send buffer, so what the clients do not
/// read stays in shardnet's queues (the kernel would otherwise absorb megabytes).
fn server() -> TcpServer {
    TcpServer::builder()
        .runtime(rt(1))
        .shard_send_budget(BUDGET)
        .start(
            "127.0.0.1:0",
            Arc::new(ModelEcho {
                sndbuf: Some(16 << 10),
                ..ModelEcho::default()
            }),
        )
        .unwrap()
}

const BUDGET: usize = 1 << 20;
const CHUNK: usize = 64 << 10;

#[test]
fn slow_readers_share_one_shard_budget() {
    let server = server();
    let addr = server.listen_addr().unwrap();
    let mut clients: Vec<TcpStream> = (0..8).map(|_| small_window_client(addr)).collect();
    assert!(wait_until(5, || server.connection_count() == 8));
    let ids = server.connection_ids();
    let chunk = pattern(CHUNK, 1);
    let mut accepted = vec![0usize; ids.len()];
    let mut refused = 0;
    // Round-robin until a whole round is refused: the budget, not each connection's 4 MiB
    // bound, stops it.
    loop {
        let mut any = false;
        for (i, &id) in ids.iter().enumerate() {
            match server.send(id, &chunk) {
                Ok(()) => {
                    accepted[i] += CHUNK;
                    any = true;
                }
                Err(Error::QueueFull(n)) => {
                    assert_eq!(n, BUDGET, "the bound reported is the shard budget");
                    refused += 1;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        if !any {
            break;
        }
        assert!(
            accepted.iter().sum::<usize>() < 64 << 20,
            "the budget never stopped the sends"
        );
    }
    // The driver keeps writing what the kernel takes; let it settle, then compare.
    let pending_sum = || -> usize {
        ids.iter()
            .map(|&id| server.pending_data_length(id).unwrap())
            .sum()
    };
    assert!(wait_until(5, || {
        let before = pending_sum();
        std::thread::sleep(Duration::from_millis(50));
        before == pending_sum() && server.shard_stats()[0].queued_bytes as usize == before
    }));
    let pending = pending_sum();
    let st = server.shard_stats()[0];
    assert!(pending <= BUDGET, "pending {pending} > budget {BUDGET}");
    assert!(st.queued_bytes <= BUDGET as u64);
    assert!(
        pending > BUDGET / 2,
        "most of the budget is queued: {pending}"
    );
    assert!(st.send_refused >= refused as u64 && refused > 0);
    assert!(
        accepted.iter().all(|&a| a < 4 << 20),
        "no connection reached its own bound: {accepted:?}"
    );
    // Readers drain everything that was accepted; the budget frees up and sends resume.
    for (c, want) in clients.iter_mut().zip(&accepted) {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = vec![0u8; *want];
        c.read_exact(&mut got).unwrap();
        assert!(got.chunks(CHUNK).all(|g| g == chunk));
    }
    assert!(wait_until(5, || server.shard_stats()[0].queued_bytes == 0));
    server.send(ids[0], &chunk).unwrap();
    server.stop();
    server.wait().unwrap();
}

/// A closed connection's queued bytes go back to the budget.
#[test]
fn a_closed_connection_returns_its_share() {
    let server = server();
    let addr = server.listen_addr().unwrap();
    let c = small_window_client(addr);
    assert!(wait_until(5, || server.connection_count() == 1));
    let id = server.connection_ids()[0];
    let chunk = pattern(CHUNK, 2);
    while server.send(id, &chunk).is_ok() {}
    assert!(server.shard_stats()[0].queued_bytes > (BUDGET / 2) as u64);
    server.disconnect(id, true).unwrap();
    drop(c);
    assert!(
        wait_until(5, || server.shard_stats()[0].queued_bytes == 0),
        "queued_bytes stays at {}",
        server.shard_stats()[0].queued_bytes
    );
    let c2 = small_window_client(addr);
    assert!(wait_until(5, || server.connection_count() == 1));
    let id2 = server.connection_ids()[0];
    server.send(id2, &chunk).unwrap();
    drop(c2);
    server.stop();
    server.wait().unwrap();
}

/// A peer that resets while the server still holds queued bytes for it: the connection closes
/// once with ECONNRESET/EPIPE and every byte it held goes back to the shard budget. (Which
/// path sees the reset first — the read or a flush — depends on timing; the flush path's own
/// release is exercised by the loops above only by chance.)
#[test]
fn reset_mid_send_returns_the_budget() {
    let echo = Arc::new(ModelEcho {
        sndbuf: Some(16 << 10),
        ..ModelEcho::default()
    });
    let server = TcpServer::builder()
        .runtime(rt(1))
        .shard_send_budget(BUDGET)
        .start("127.0.0.1:0", echo.clone())
        .unwrap();
    let c = small_window_client(server.listen_addr().unwrap());
    assert!(wait_until(5, || server.connection_count() == 1));
    let id = server.connection_ids()[0];
    let chunk = pattern(CHUNK, 3);
    while server.send(id, &chunk).is_ok() {}
    assert!(server.shard_stats()[0].queued_bytes > 0);
    // Read a little so the server is mid-flush, then reset (linger 0 → RST).
    let mut c = c;
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 8192];
    let _ = c.read(&mut buf);
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    assert!(wait_until(5, || echo.closes.lock().unwrap().len() == 1));
    let close = echo.closes.lock().unwrap()[0];
    assert!(
        close.2 == libc::ECONNRESET || close.2 == libc::EPIPE,
        "closed with {close:?}"
    );
    assert!(
        wait_until(5, || server.shard_stats()[0].queued_bytes == 0),
        "queued_bytes stays at {}",
        server.shard_stats()[0].queued_bytes
    );
    server.stop();
    server.wait().unwrap();
}
