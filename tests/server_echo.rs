//! Echo through TcpServer: many connections, many sizes, both placements, every byte checked.

mod support;
use shardnet::*;
use std::net::TcpStream;
use std::sync::Arc;
use support::*;

fn run_echo(placement: AcceptPlacement) {
    let rec = Arc::new(Record::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .placement(placement)
        .start("127.0.0.1:0", Arc::new(EchoRec(rec.clone())))
        .unwrap();
    let addr = server.listen_addr().unwrap();
    // 1,000 connections, held open together, spread over 4 client threads.
    let sizes = [1usize, 7, 100, 4096, 4097, 65_536, 262_144];
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut conns: Vec<TcpStream> = (0..250)
                    .map(|_| TcpStream::connect(addr).unwrap())
                    .collect();
                for (i, c) in conns.iter_mut().enumerate() {
                    let size = if i % 25 == 0 {
                        sizes[(i / 25 + t) % sizes.len()]
                    } else {
                        1 + (i * 37) % 2000
                    };
                    echo_roundtrip(c, &pattern(size, (t * 1000 + i) as u64));
                }
                conns
            })
        })
        .collect();
    let conns: Vec<TcpStream> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(conns.len(), 1000);
    assert!(wait_until(10, || server.connection_count() == 1000));
    let stats = server.shard_stats();
    assert!(
        stats.iter().all(|s| s.connections > 0),
        "both shards serve: {stats:?}"
    );
    if placement == AcceptPlacement::Balanced {
        let (a, b) = (stats[0].connections as i64, stats[1].connections as i64);
        assert!(
            (a - b).abs() <= 2,
            "balanced placement evens shards: {a} vs {b}"
        );
    }
    drop(conns);
    assert!(wait_until(10, || rec.closes().len() == 1000));
    assert!(rec
        .closes()
        .iter()
        .all(|c| c.1 == SocketOperation::Close && c.2 == 0));
    assert_eq!(rec.duplicates(), 0);
    server.stop();
    server.wait().unwrap();
    assert_eq!(rec.shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(server.state(), ServiceState::Stopped);
}

#[test]
fn echo_1000_connections_reuseport() {
    run_echo(AcceptPlacement::ReusePort);
}

#[test]
fn echo_1000_connections_balanced() {
    run_echo(AcceptPlacement::Balanced);
}
