//! Half-close: a peer's FIN means "I will send no more", not "stop sending".
//!
//! What the application was told was sent (`send` returned `Ok`) must reach a peer that has
//! shut down its write side but still reads: the connection closes with `on_close(Close, 0)`
//! once the queue has left. If the peer stops reading, the wait is bounded by `flush_timeout`
//! and the close is reported as `on_close(Send, ETIMEDOUT)`, not as a normal close. The same
//! bound applies to a non-forced `disconnect`. Before the fix a 3 MiB echo to a slow,
//! half-closed reader lost ~150 KB and ended with a clean FIN.

mod support;
mod tls_support;

use shardnet::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use support::*;

const BIG: usize = 3 << 20;

/// Reads to end-of-stream in small, slow steps; returns the bytes.
fn read_slowly(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let mut reads = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed after {} bytes: {e}", all.len()),
        }
        reads += 1;
        if reads.is_multiple_of(64) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn server_with(builder: TcpServerBuilder, sndbuf: Option<usize>) -> (TcpServer, Arc<ModelEcho>) {
    let echo = Arc::new(ModelEcho {
        sndbuf,
        ..ModelEcho::default()
    });
    let server = builder
        .runtime(rt(1))
        .start("127.0.0.1:0", echo.clone())
        .unwrap();
    (server, echo)
}

/// 3 MiB in, FIN, then a slow reader: every echoed byte arrives before the server's FIN, and
/// the close is normal — in each receive model (Pack: 64 KiB messages, echoed as messages, so
/// the bytes on the wire are the same; Pull: fetched and echoed).
#[test]
fn half_closed_peer_gets_everything_queued() {
    use shardnet::pack::{encode_header, PackConfig};
    for (name, model) in [
        ("push", ReceiveModel::Push),
        ("pack", ReceiveModel::Pack(PackConfig::default())),
        ("pull", ReceiveModel::Pull),
    ] {
        // A small kernel send buffer, so most of the echo waits in the server's own queue.
        let (server, echo) = server_with(TcpServer::builder().receive_model(model), Some(16 << 10));
        let addr = server.listen_addr().unwrap();
        let data: Vec<u8> = match model {
            ReceiveModel::Pack(_) => pattern(BIG, 21)
                .chunks(64 << 10)
                .flat_map(|m| {
                    let mut f = encode_header(0, m.len() as u32).to_vec();
                    f.extend_from_slice(m);
                    f
                })
                .collect(),
            _ => pattern(BIG, 21),
        };
        for round in 0..2 {
            let mut c = small_window_client(addr);
            c.write_all(&data).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let back = read_slowly(&mut c);
            assert_eq!(
                back.len(),
                data.len(),
                "{name} {round}: bytes echoed before FIN"
            );
            assert!(back == data, "{name} {round}: echoed bytes differ");
        }
        assert!(wait_until(5, || echo.closes.lock().unwrap().len() == 2));
        for c in echo.closes.lock().unwrap().iter() {
            assert_eq!((c.1, c.2), (SocketOperation::Close, 0), "{name}");
        }
        server.stop();
        server.wait().unwrap();
    }
}

/// The same through TLS: the peer sends its data and close_notify, then reads slowly.
#[test]
fn half_closed_tls_peer_gets_everything_queued() {
    use shardnet::tls::{rustls, ServerTlsConfig};
    let ca = tls_support::Ca::new("half-close CA");
    let leaf = ca.server(&["localhost"]);
    let cfg = ServerTlsConfig::builder()
        .identity(leaf.identity())
        .build()
        .unwrap();
    let (server, echo) = server_with(TcpServer::builder().tls(cfg), Some(16 << 10));
    let addr = server.listen_addr().unwrap();
    let ccfg = tls_support::rustls_client_config(&ca);
    let mut tls = rustls::ClientConnection::new(ccfg, "localhost".try_into().unwrap()).unwrap();
    tls.set_buffer_limit(None);
    let mut sock = small_window_client(addr);
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut sock).unwrap();
    }
    const N: usize = 1 << 20;
    let data = pattern(N, 5);
    // Write the data (the server's echo queue absorbs it; we read nothing yet).
    tls.writer().write_all(&data).unwrap();
    tls.send_close_notify();
    let mut wire = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut wire).unwrap();
    }
    let mut w = sock.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&wire).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    let mut stream = rustls::Stream::new(&mut tls, &mut sock);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => back.extend_from_slice(&buf[..n]),
            Err(e) => panic!("TLS read failed after {} bytes: {e}", back.len()),
        }
    }
    writer.join().unwrap();
    assert_eq!(back.len(), N, "plaintext echoed before the close");
    assert!(back == data);
    assert!(wait_until(5, || echo.closes.lock().unwrap().len() == 1));
    let c = echo.closes.lock().unwrap()[0];
    assert_eq!((c.1, c.2), (SocketOperation::Close, 0));
    server.stop();
    server.wait().unwrap();
}

/// A half-closed peer that never reads: after `flush_timeout` the connection closes with
/// `on_close(Send, ETIMEDOUT)` — the bytes did not arrive, and on_close says so.
#[test]
fn half_closed_peer_that_stops_reading_times_out() {
    let (server, echo) = server_with(
        TcpServer::builder().flush_timeout(Duration::from_millis(300)),
        Some(16 << 10),
    );
    let addr = server.listen_addr().unwrap();
    let mut c = small_window_client(addr);
    let data = pattern(BIG, 2);
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert!(wait_until(5, || echo.received.load(Ordering::SeqCst) == BIG));
    assert!(
        wait_until(5, || echo.closes.lock().unwrap().len() == 1),
        "the flush timeout closed the connection"
    );
    let close = echo.closes.lock().unwrap()[0];
    assert_eq!((close.1, close.2), (SocketOperation::Send, libc::ETIMEDOUT));
    drop(c);
    server.stop();
    server.wait().unwrap();
}

/// A non-forced disconnect waits for the queue, bounded the same way: a reader that drains
/// gets everything, then FIN and `on_close(Close, 0)`; a reader that never reads is cut off
/// after the timeout with `on_close(Send, ETIMEDOUT)`.
#[test]
fn graceful_disconnect_flushes_within_the_timeout() {
    let (server, echo) = server_with(
        TcpServer::builder().flush_timeout(Duration::from_millis(1000)),
        Some(16 << 10),
    );
    let addr = server.listen_addr().unwrap();
    let mut reader = small_window_client(addr);
    let mut stalled = small_window_client(addr);
    assert!(wait_until(5, || server.connection_count() == 2));
    let ids = server.connection_ids();
    let chunk = pattern(1 << 20, 9);
    let mut sent = Vec::new();
    for &id in &ids {
        // Enough that some stays queued (the kernel's send buffer takes up to a few MiB).
        let mut n = 0;
        while n < 2 && server.pending_data_length(id) == Some(0) {
            server.send(id, &chunk).unwrap();
            n += 1;
        }
        assert!(
            server.pending_data_length(id).unwrap() > 0,
            "something queued"
        );
        sent.push((id, n));
        server.disconnect(id, false).unwrap();
    }
    // The stalled one never reads; the reader drains everything.
    let back = read_slowly(&mut reader);
    let reader_id = server_side_id(&sent, back.len());
    assert_eq!(back.len(), reader_id << 20);
    assert!(back.chunks(1 << 20).all(|c| c == chunk));
    assert!(wait_until(5, || echo.closes.lock().unwrap().len() == 2));
    let mut kinds: Vec<(SocketOperation, i32)> = echo
        .closes
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.1, c.2))
        .collect();
    kinds.sort_by_key(|k| k.1);
    assert_eq!(
        kinds,
        vec![
            (SocketOperation::Close, 0),
            (SocketOperation::Send, libc::ETIMEDOUT)
        ]
    );
    drop(stalled.write(b"x"));
    server.stop();
    server.wait().unwrap();
}

/// How many 1 MiB chunks went to the connection that delivered `got` bytes.
fn server_side_id(sent: &[(ConnId, usize)], got: usize) -> usize {
    sent.iter()
        .map(|s| s.1)
        .find(|&n| n << 20 == got)
        .unwrap_or_else(|| panic!("{got} bytes match no connection's sends {sent:?}"))
}

/// Agent side: the server half-closes after sending a request; the agent's (large) answer,
/// sent from `on_receive`, reaches it in full before the agent's FIN.
#[test]
fn agent_answers_a_half_closed_server_in_full() {
    struct Answer;
    impl AgentListener for Answer {
        fn on_receive(&self, a: &TcpAgent, c: ConnId, d: &[u8]) -> HandleResult {
            // Each request byte asks for 64 KiB of answer.
            for _ in 0..d.len() {
                if a.send(c, &pattern(64 << 10, 77)).is_err() {
                    return HandleResult::Error;
                }
            }
            HandleResult::Ok
        }
        fn on_close(&self, _: &TcpAgent, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
            HandleResult::Ok
        }
    }
    // The small receive buffer is set before the handshake (on the listener, inherited), so
    // the window is small from the start rather than shrunk under a scaled window.
    let l = {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        s.listen(16).unwrap();
        TcpListener::from(s)
    };
    let port = l.local_addr().unwrap().port();
    let agent = TcpAgent::builder()
        .runtime(rt(1))
        .start(Arc::new(Answer))
        .unwrap();
    agent.connect("127.0.0.1", port).unwrap();
    let (mut s, _) = l.accept().unwrap();
    s.write_all(&[1u8; 40]).unwrap(); // 40 × 64 KiB = 2.5 MiB of answer
    s.shutdown(Shutdown::Write).unwrap();
    let back = read_slowly(&mut s);
    assert_eq!(back.len(), 40 * (64 << 10));
    let one = pattern(64 << 10, 77);
    assert!(back.chunks(64 << 10).all(|c| c == one));
    agent.stop();
    agent.wait().unwrap();
}

/// A graceful disconnect made on the owning shard outside a turn (a task of the shard, here a
/// runtime job) while the driver is parked still gets its flush timeout armed: the stalled
/// reader is cut off with `on_close(Send, ETIMEDOUT)` instead of never.
#[test]
fn flush_timeout_armed_from_outside_a_turn() {
    let runtime = rt(1);
    let echo = Arc::new(ModelEcho {
        sndbuf: Some(16 << 10),
        ..ModelEcho::default()
    });
    let server = TcpServer::builder()
        .runtime(runtime.clone())
        .flush_timeout(Duration::from_millis(300))
        .start("127.0.0.1:0", echo.clone())
        .unwrap();
    let _stalled = small_window_client(server.listen_addr().unwrap());
    assert!(wait_until(5, || server.connection_count() == 1));
    let id = server.connection_ids()[0];
    let s2 = server.clone();
    let chunk = pattern(1 << 20, 4);
    runtime
        .run_on(ShardId(0), move || {
            // On the shard, outside a driver turn: queue more than the kernel takes, then a
            // graceful disconnect.
            s2.send(id, &chunk).unwrap();
            s2.disconnect(id, false).unwrap();
        })
        .unwrap();
    assert!(
        wait_until(5, || echo.closes.lock().unwrap().len() == 1),
        "the flush timeout never fired"
    );
    let c = echo.closes.lock().unwrap()[0];
    assert_eq!((c.1, c.2), (SocketOperation::Send, libc::ETIMEDOUT));
    server.stop();
    server.wait().unwrap();
}
