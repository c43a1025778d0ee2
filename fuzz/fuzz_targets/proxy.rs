//! PROXY protocol headers (v1 text, v2 binary). Mode 0: arbitrary bytes: a header found in a
//! prefix is found the same in every longer input (what follows is the client's), no prefix
//! of it is taken for a different header, and an incomplete answer is never given past the
//! longest header possible. Mode 1: headers built from fuzzed addresses parse to them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::Input;
use shardnet_protocols::proxy::{parse, Header, Parsed, V2_SIGNATURE};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn arbitrary(inp: &mut Input) {
    let max_v2 = usize::from(inp.u16() % 4096);
    let buf = inp.rest();
    let full = parse(buf, max_v2);
    match full {
        Parsed::Done(h, n) => {
            assert!(n <= buf.len() && n > 0);
            // Only its own bytes decide the header.
            assert_eq!(parse(&buf[..n], max_v2), Parsed::Done(h, n));
            for cut in 0..n {
                match parse(&buf[..cut], max_v2) {
                    Parsed::Incomplete => {}
                    other => panic!("prefix {cut} of a {n}-byte header gave {other:?}"),
                }
            }
            let (Header::Proxy { version, .. } | Header::Local { version }) = h;
            assert!(version == 1 || version == 2);
        }
        Parsed::Incomplete => {
            assert!(buf.len() < 107 || buf.len() < 16 + max_v2, "incomplete at {} bytes", buf.len());
        }
        Parsed::Invalid(_) => {
            // A refusal stands whatever follows.
            let mut longer = buf.to_vec();
            longer.extend_from_slice(b"\r\n\r\n");
            assert!(matches!(parse(&longer, max_v2), Parsed::Invalid(_)));
        }
    }
}

fn built(inp: &mut Input) {
    let v6 = inp.bool();
    let ip = |inp: &mut Input| -> IpAddr {
        if v6 {
            let b: [u8; 16] = std::array::from_fn(|_| inp.byte());
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            IpAddr::V4(Ipv4Addr::from(inp.u32()))
        }
    };
    let src = SocketAddr::new(ip(inp), inp.u16());
    let dst = SocketAddr::new(ip(inp), inp.u16());
    let tlvs = inp.chunk().to_vec();
    let tail = inp.rest();
    // v1
    let line = format!(
        "PROXY {} {} {} {} {}\r\n",
        if v6 { "TCP6" } else { "TCP4" },
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    );
    let mut b = line.clone().into_bytes();
    b.extend_from_slice(tail);
    assert_eq!(parse(&b, 2048), Parsed::Done(Header::Proxy { src, dst, version: 1 }, line.len()));
    // v2 (PROXY command, STREAM), TLVs after the addresses.
    let mut v = V2_SIGNATURE.to_vec();
    v.push(0x21);
    let mut body = Vec::new();
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            v.push(0x11);
            body.extend_from_slice(&s.octets());
            body.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            v.push(0x21);
            body.extend_from_slice(&s.octets());
            body.extend_from_slice(&d.octets());
        }
        _ => unreachable!(),
    }
    body.extend_from_slice(&src.port().to_be_bytes());
    body.extend_from_slice(&dst.port().to_be_bytes());
    body.extend_from_slice(&tlvs);
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(&body);
    let used = v.len();
    v.extend_from_slice(tail);
    assert_eq!(parse(&v, 2048), Parsed::Done(Header::Proxy { src, dst, version: 2 }, used));
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    if inp.byte() & 1 == 0 {
        arbitrary(&mut inp);
    } else {
        built(&mut inp);
    }
});
