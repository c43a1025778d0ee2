//! The Pull example (examples/pull_server.rs, compiled here as a module): length-prefixed
//! requests arriving whole, split at every byte, and many per write; an over-long length
//! closes only its own connection.

#[path = "../examples/pull_server.rs"]
mod example;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::*;

fn request(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn read_reply(s: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).unwrap();
    let mut b = vec![0u8; u32::from_be_bytes(h) as usize];
    s.read_exact(&mut b).unwrap();
    b
}

#[test]
fn length_prefixed_requests_however_they_arrive() {
    let server = example::start("127.0.0.1:0").unwrap();
    let addr = server.listen_addr().unwrap();
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    c.write_all(&request(b"hello")).unwrap();
    assert_eq!(read_reply(&mut c), b"HELLO");

    // One byte per write, with pauses so that each byte is its own read.
    for b in request(b"slowly, byte by byte") {
        c.write_all(&[b]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(read_reply(&mut c), b"SLOWLY, BYTE BY BYTE");

    // 200 requests in one write, the last one the maximum size.
    let bodies: Vec<Vec<u8>> = (0..199)
        .map(|i| format!("request {i} ").repeat(i % 17 + 1).into_bytes())
        .chain(std::iter::once(vec![b'z'; example::MAX_REQUEST]))
        .collect();
    let all: Vec<u8> = bodies.iter().flat_map(|b| request(b)).collect();
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&all).unwrap());
    for b in &bodies {
        assert_eq!(read_reply(&mut c), b.to_ascii_uppercase());
    }
    writer.join().unwrap();

    // An over-long length closes that connection only.
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.write_all(&((example::MAX_REQUEST as u32 + 1).to_be_bytes()))
        .unwrap();
    assert!(peer_closed(&mut bad, 10));
    c.write_all(&request(b"still served")).unwrap();
    assert_eq!(read_reply(&mut c), b"STILL SERVED");
    // Whole requests were all fetched: nothing left buffered anywhere.
    assert!(wait_until(5, || server
        .pull_stats()
        .iter()
        .all(|s| s.buffered == 0 && s.blocks_in_use == 0)));
    server.stop();
    server.wait().unwrap();
}
