//! Codec tests: golden vectors from RFC 6455 and 7692, every way of splitting a stream, and
//! each protocol violation with its close code.

use super::deflate::{Deflate, DeflateConfig, Role};
use super::frame::{apply_mask, opcode};
use super::*;

#[derive(Default, Debug)]
struct Rec {
    msgs: Vec<(bool, Vec<u8>)>,
    pings: Vec<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    close: Option<(Option<u16>, String)>,
    headers: usize,
}

impl WsHandler for Rec {
    fn on_frame_header(&mut self, _: &FrameHeader) {
        self.headers += 1;
    }
    fn on_message(&mut self, m: Message<'_>) -> bool {
        match m {
            Message::Text(t) => self.msgs.push((true, t.as_bytes().to_vec())),
            Message::Binary(b) => self.msgs.push((false, b.to_vec())),
        }
        true
    }
    fn on_ping(&mut self, d: &[u8]) {
        self.pings.push(d.to_vec());
    }
    fn on_pong(&mut self, d: &[u8]) {
        self.pongs.push(d.to_vec());
    }
    fn on_close(&mut self, c: Option<u16>, r: &str) {
        self.close = Some((c, r.to_string()));
    }
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn client_frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, fin, 0, op, payload, Some(KEY));
    out
}

fn server() -> Endpoint {
    Endpoint::new(Role::Server, WsLimits::default(), None)
}

fn feed_all(ep: &mut Endpoint, bytes: &[u8]) -> (Rec, Result<usize, CloseError>) {
    let mut r = Rec::default();
    let mut scratch = Vec::new();
    let res = ep.feed(bytes, &mut scratch, &mut r);
    (r, res)
}

#[test]
fn rfc6455_golden_vectors() {
    // §5.7: a single-frame masked text message "Hello".
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(client_frame(true, opcode::TEXT, b"Hello"), wire);
    let (r, res) = feed_all(&mut server(), &wire);
    assert_eq!(res, Ok(wire.len()));
    assert_eq!(r.msgs, vec![(true, b"Hello".to_vec())]);
    // §1.3: the accept key.
    assert_eq!(
        handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    // §5.7: unmasked 256-byte and 64 KiB binary headers.
    let mut out = Vec::new();
    write_frame(&mut out, true, 0, opcode::BINARY, &[0u8; 256], None);
    assert_eq!(&out[..4], &[0x82, 0x7E, 0x01, 0x00]);
    out.clear();
    write_frame(&mut out, true, 0, opcode::BINARY, &vec![0u8; 65536], None);
    assert_eq!(&out[..10], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
}

#[test]
fn every_split_gives_the_same_messages() {
    let mut stream = Vec::new();
    stream.extend(client_frame(false, opcode::TEXT, "héllo ".as_bytes()));
    stream.extend(client_frame(true, opcode::PING, b"p"));
    stream.extend(client_frame(
        true,
        opcode::CONTINUATION,
        "wörld €".as_bytes(),
    ));
    stream.extend(client_frame(true, opcode::BINARY, &[7u8; 300]));
    stream.extend(client_frame(true, opcode::BINARY, &[9u8; 70000]));
    stream.extend(client_frame(true, opcode::TEXT, b""));
    let want_msgs = vec![
        (true, "héllo wörld €".as_bytes().to_vec()),
        (false, vec![7u8; 300]),
        (false, vec![9u8; 70000]),
        (true, vec![]),
    ];
    // Every cut into two pieces, and byte by byte.
    let cuts: Vec<usize> = (0..stream.len()).step_by(97).chain(0..40).collect();
    for cut in cuts {
        let mut ep = server();
        let mut r = Rec::default();
        let mut scratch = Vec::new();
        let a = ep.feed(&stream[..cut], &mut scratch, &mut r).unwrap();
        let b = ep.feed(&stream[cut..], &mut scratch, &mut r).unwrap();
        assert_eq!(a + b, stream.len());
        assert_eq!(r.msgs, want_msgs, "cut at {cut}");
        assert_eq!(r.pings, vec![b"p".to_vec()]);
        assert!(ep.is_idle());
    }
    let mut ep = server();
    let mut r = Rec::default();
    let mut scratch = Vec::new();
    for b in &stream {
        ep.feed(std::slice::from_ref(b), &mut scratch, &mut r)
            .unwrap();
    }
    assert_eq!(r.msgs, want_msgs);
}

#[test]
fn unmasking_at_any_offset() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    for off in 0..8 {
        let mut a = data.clone();
        apply_mask(&mut a, KEY, off);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ KEY[(i + off) & 3])
            .collect();
        assert_eq!(a, slow, "offset {off}");
    }
}

fn code_of(bytes: &[u8]) -> u16 {
    feed_all(&mut server(), bytes).1.unwrap_err().code
}

#[test]
fn violations_close_with_their_code() {
    let mut unmasked = Vec::new();
    write_frame(&mut unmasked, true, 0, opcode::TEXT, b"x", None);
    assert_eq!(code_of(&unmasked), 1002, "unmasked client frame");
    let mut rsv = Vec::new();
    write_frame(&mut rsv, true, 2, opcode::TEXT, b"x", Some(KEY));
    assert_eq!(code_of(&rsv), 1002, "RSV2 without an extension");
    let mut rsv1 = Vec::new();
    write_frame(&mut rsv1, true, 4, opcode::TEXT, b"x", Some(KEY));
    assert_eq!(code_of(&rsv1), 1002, "RSV1 without permessage-deflate");
    assert_eq!(
        code_of(&client_frame(true, 3, b"")),
        1002,
        "reserved opcode"
    );
    assert_eq!(
        code_of(&client_frame(false, opcode::PING, b"")),
        1002,
        "fragmented ping"
    );
    assert_eq!(
        code_of(&client_frame(true, opcode::PING, &[0; 126])),
        1002,
        "long ping"
    );
    assert_eq!(
        code_of(&client_frame(true, opcode::CONTINUATION, b"x")),
        1002
    );
    let mut two = client_frame(false, opcode::TEXT, b"a");
    two.extend(client_frame(true, opcode::TEXT, b"b"));
    assert_eq!(code_of(&two), 1002, "new message inside a fragmented one");
    // Invalid UTF-8 fails at once, in the first fragment (the message has not ended).
    let (r, res) = feed_all(
        &mut server(),
        &client_frame(false, opcode::TEXT, &[b'a', 0xC0, 0x80]),
    );
    assert_eq!(res.unwrap_err().code, 1007);
    assert!(r.msgs.is_empty());
    // A character cut at the end of the message.
    assert_eq!(
        code_of(&client_frame(true, opcode::TEXT, &[0xE2, 0x82])),
        1007
    );
    // Close frames: a 1-byte body, invalid codes, bad reason.
    assert_eq!(code_of(&client_frame(true, opcode::CLOSE, &[3])), 1002);
    for bad in [
        0u16, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000,
    ] {
        assert_eq!(
            code_of(&client_frame(true, opcode::CLOSE, &bad.to_be_bytes())),
            1002,
            "{bad}"
        );
    }
    let mut c = 1000u16.to_be_bytes().to_vec();
    c.extend_from_slice(&[0xff]);
    assert_eq!(code_of(&client_frame(true, opcode::CLOSE, &c)), 1007);
}

#[test]
fn limits_are_checked_on_the_header() {
    let limits = WsLimits {
        max_frame: 1000,
        max_message: 1500,
    };
    let mut ep = Endpoint::new(Role::Server, limits, None);
    // Only the header of a 2 GB frame: refused before any byte of it is buffered.
    let mut hdr = Vec::new();
    frame::write_header(&mut hdr, true, 0, opcode::BINARY, Some(KEY), 2 << 30);
    assert_eq!(feed_all(&mut ep, &hdr).1.unwrap_err().code, 1009);
    // Fragments adding up past the message limit.
    let mut ep = Endpoint::new(Role::Server, limits, None);
    let mut s = client_frame(false, opcode::BINARY, &[0; 900]);
    s.extend(client_frame(true, opcode::CONTINUATION, &[0; 900]));
    assert_eq!(feed_all(&mut ep, &s).1.unwrap_err().code, 1009);
}

#[test]
fn close_and_control_frames() {
    let mut s = client_frame(true, opcode::PONG, b"unsolicited");
    let mut c = 1001u16.to_be_bytes().to_vec();
    c.extend_from_slice("bye ✓".as_bytes());
    s.extend(client_frame(true, opcode::CLOSE, &c));
    s.extend(client_frame(true, opcode::TEXT, b"after close: not read"));
    let mut ep = server();
    let (r, res) = feed_all(&mut ep, &s);
    assert!(res.unwrap() < s.len());
    assert_eq!(r.pongs, vec![b"unsolicited".to_vec()]);
    assert_eq!(r.close, Some((Some(1001), "bye ✓".to_string())));
    assert!(r.msgs.is_empty());
    assert!(ep.is_closed());
    let (r, _) = feed_all(&mut server(), &client_frame(true, opcode::CLOSE, b""));
    assert_eq!(r.close, Some((None, String::new())));
    let mut out = Vec::new();
    write_close(&mut out, Some(1000), &"é".repeat(100), None);
    assert!(out.len() <= 2 + 125);
}

#[test]
fn deflate_negotiation() {
    let cfg = DeflateConfig::default();
    let p = cfg.accept_offer("permessage-deflate").unwrap();
    assert_eq!(p.response(), "permessage-deflate");
    let p = cfg
        .accept_offer("permessage-deflate; client_max_window_bits; server_no_context_takeover")
        .unwrap();
    assert!(p.server_no_context_takeover);
    assert_eq!(
        p.response(),
        "permessage-deflate; server_no_context_takeover"
    );
    let p = cfg
        .accept_offer("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9")
        .unwrap();
    assert_eq!(
        (p.server_max_window_bits, p.client_max_window_bits),
        (10, 9)
    );
    assert_eq!(
        p.response(),
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"
    );
    // Invalid offers are declined; a later valid one in the list is taken.
    assert_eq!(
        cfg.accept_offer("permessage-deflate; server_max_window_bits=16"),
        None
    );
    assert_eq!(cfg.accept_offer("permessage-deflate; x=1"), None);
    assert_eq!(
        cfg.accept_offer(
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover"
        ),
        None
    );
    let p = cfg
        .accept_offer("permessage-deflate; server_max_window_bits=7, permessage-deflate")
        .unwrap();
    assert_eq!(p.server_max_window_bits, 15);
    assert_eq!(cfg.accept_offer("x-webkit-deflate-frame"), None);
    // The client's view of an answer.
    assert!(cfg
        .check_response("permessage-deflate; server_no_context_takeover")
        .is_ok());
    assert!(cfg.check_response("permessage-deflate; foo").is_err());
    // An 8-bit window is accepted (we can inflate it) but this side then sends uncompressed:
    // zlib cannot keep its back-references within 256 bytes.
    let p = cfg
        .accept_offer("permessage-deflate; server_max_window_bits=8")
        .unwrap();
    assert_eq!(p.response(), "permessage-deflate; server_max_window_bits=8");
    assert!(!Deflate::new(p, Role::Server).worth(1000));
    assert!(Deflate::new(p, Role::Client).worth(1000));
    let p = cfg
        .check_response("permessage-deflate; client_max_window_bits=8")
        .unwrap();
    assert!(!Deflate::new(p, Role::Client).worth(1000));
    assert!(Deflate::new(p, Role::Server).worth(1000));
}

#[test]
fn client_checks_the_servers_answer() {
    let key = handshake::client_key([7; 16]);
    let accept = handshake::accept_key(key.as_bytes());
    let check = |extra: &[(&str, &str)], offered: &[&str]| {
        let mut h = vec![
            httparse::Header {
                name: "Upgrade",
                value: b"websocket",
            },
            httparse::Header {
                name: "Connection",
                value: b"Upgrade",
            },
            httparse::Header {
                name: "Sec-WebSocket-Accept",
                value: accept.as_bytes(),
            },
        ];
        for (n, v) in extra {
            h.push(httparse::Header {
                name: n,
                value: v.as_bytes(),
            });
        }
        handshake::check_accept(&h, &key, offered, None).map(|d| d.is_none())
    };
    assert_eq!(check(&[], &[]), Ok(true));
    assert_eq!(
        check(&[("Sec-WebSocket-Protocol", "chat")], &["v2", "chat"]),
        Ok(true)
    );
    assert!(check(&[("Sec-WebSocket-Protocol", "chat")], &[]).is_err());
    assert!(check(&[("Sec-WebSocket-Protocol", "other")], &["chat"]).is_err());
    assert!(check(
        &[
            ("Sec-WebSocket-Protocol", "chat"),
            ("Sec-WebSocket-Protocol", "chat")
        ],
        &["chat"]
    )
    .is_err());
    // An extension answered although none was offered.
    assert!(check(&[("Sec-WebSocket-Extensions", "permessage-deflate")], &[]).is_err());
}

#[test]
fn rfc7692_golden_vector_and_round_trips() {
    // §7.2.3.1: "Hello" compressed is c1 07 f2 48 cd c9 c9 07 00.
    let p = DeflateConfig::default()
        .accept_offer("permessage-deflate")
        .unwrap();
    let mut ep = Endpoint::new(
        Role::Client,
        WsLimits::default(),
        Some(Deflate::new(p, Role::Client)),
    );
    let wire = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let (r, res) = feed_all(&mut ep, &wire);
    res.unwrap();
    assert_eq!(r.msgs, vec![(true, b"Hello".to_vec())]);
    // §7.2.3.2: the same message sent twice with context takeover: the second is shorter.
    let wire2 = [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00];
    let (r, res) = feed_all(&mut ep, &wire2);
    res.unwrap();
    assert_eq!(r.msgs, vec![(true, b"Hello".to_vec())]);

    for no_ctx in [false, true] {
        let offer = if no_ctx {
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        } else {
            "permessage-deflate"
        };
        let cfg = DeflateConfig {
            min_size: 0,
            ..Default::default()
        };
        let p = cfg.accept_offer(offer).unwrap();
        let mut tx = Endpoint::new(
            Role::Server,
            WsLimits::default(),
            Some(Deflate::new(p, Role::Server)),
        );
        let mut rx = Endpoint::new(
            Role::Client,
            WsLimits::default(),
            Some(Deflate::new(p, Role::Client)),
        );
        let mut all = Vec::new();
        let msgs: Vec<Vec<u8>> = (0..20)
            .map(|i| format!("message {i} {}", "abc".repeat(i * 50)).into_bytes())
            .collect();
        for m in &msgs {
            tx.write_message(&mut all, opcode::TEXT, m, None);
        }
        // Split anywhere: same messages.
        for cut in [1, 7, all.len() / 2, all.len() - 1] {
            let mut rx2 = Endpoint::new(
                Role::Client,
                WsLimits::default(),
                Some(Deflate::new(p, Role::Client)),
            );
            let mut r = Rec::default();
            let mut scratch = Vec::new();
            rx2.feed(&all[..cut], &mut scratch, &mut r).unwrap();
            rx2.feed(&all[cut..], &mut scratch, &mut r).unwrap();
            let got: Vec<Vec<u8>> = r.msgs.into_iter().map(|(_, m)| m).collect();
            assert_eq!(got, msgs, "no_ctx {no_ctx} cut {cut}");
        }
        let (r, _) = feed_all(&mut rx, &all);
        assert_eq!(r.msgs.len(), 20);
        if no_ctx {
            assert!(
                !tx.deflate().unwrap().holds_state(),
                "no state kept between messages"
            );
        }
    }
}

#[test]
fn inflating_past_the_limit_is_refused() {
    // 1 MiB of zeros compresses to ~10 KiB: a small frame that would inflate past the limit.
    let cfg = DeflateConfig {
        min_size: 0,
        ..Default::default()
    };
    let p = cfg.accept_offer("permessage-deflate").unwrap();
    let mut tx = Endpoint::new(
        Role::Client,
        WsLimits::default(),
        Some(Deflate::new(p, Role::Client)),
    );
    let mut bomb = Vec::new();
    tx.write_message(&mut bomb, opcode::BINARY, &vec![0u8; 1 << 20], Some(KEY));
    assert!(bomb.len() < 16 << 10, "{}", bomb.len());
    let limits = WsLimits {
        max_frame: 1 << 20,
        max_message: 64 << 10,
    };
    let mut rx = Endpoint::new(Role::Server, limits, Some(Deflate::new(p, Role::Server)));
    assert_eq!(feed_all(&mut rx, &bomb).1.unwrap_err().code, 1009);
}

#[test]
fn utf8_validator_fails_fast() {
    let text = "aé€𝄞".as_bytes();
    for cut in 0..text.len() {
        let mut v = Utf8Validator::new();
        assert!(v.push(&text[..cut]));
        assert!(v.push(&text[cut..]));
        assert!(v.is_complete());
    }
    let mut v = Utf8Validator::new();
    assert!(v.push(&[0xF0, 0x9D]));
    assert!(
        !v.push(&[0x41]),
        "a lead byte followed by ASCII fails at once"
    );
    let mut v = Utf8Validator::new();
    assert!(
        !v.push(&[0xED, 0xA0]),
        "a surrogate prefix fails before its last byte"
    );
}

/// Every event of an endpoint, raw frame callbacks included, in order.
#[derive(Default)]
struct Trace(Vec<String>);

impl WsHandler for Trace {
    fn on_frame_header(&mut self, h: &FrameHeader) {
        self.0.push(format!("header {} {}", h.opcode, h.len));
    }
    fn on_frame_payload(&mut self, d: &[u8]) {
        if !self.0.last().is_some_and(|l| l.starts_with("payload")) {
            self.0.push("payload".into());
        }
        let l = self.0.last_mut().expect("just pushed");
        for b in d {
            l.push_str(&format!(" {b:02x}"));
        }
    }
    fn on_frame_end(&mut self) {
        self.0.push("end".into());
    }
    fn on_message(&mut self, m: Message<'_>) -> bool {
        self.0.push(format!("message {m:?}"));
        true
    }
}

fn trace(ep: &mut Endpoint, pieces: &[&[u8]]) -> Vec<String> {
    let mut t = Trace::default();
    let mut scratch = Vec::new();
    for p in pieces {
        if let Err(e) = ep.feed(p, &mut scratch, &mut t) {
            t.0.push(format!("error {}", e.code));
            break;
        }
    }
    t.0
}

#[test]
fn one_read_or_many_give_the_same_events() {
    // Found by the `ws_endpoint` fuzz target: a frame inside one read reported its message
    // before its raw end (pieces: after), and a text ending inside a character failed before
    // the raw end (pieces: after).
    for payload in [&b"ok"[..], &[0xee, 0xaf, 0xaf, 0x00, 0xee], &[0x41, 0xff]] {
        let f = client_frame(true, opcode::TEXT, payload);
        let whole = trace(&mut server(), &[&f]);
        let bytes: Vec<&[u8]> = f.chunks(1).collect();
        assert_eq!(whole, trace(&mut server(), &bytes), "{payload:?}");
        if payload == b"ok" {
            assert_eq!(
                whole[2..],
                ["end".to_string(), "message Text(\"ok\")".into()]
            );
        }
    }
    // Bytes after a final deflate block (BFINAL) are ignored in any read, as zlib leaves them.
    let p = DeflateConfig::default()
        .accept_offer("permessage-deflate")
        .unwrap();
    let mut z = vec![0x2b, 0xc9, 0xcf, 0x06, 0x00]; // "tok", one final fixed-Huffman block
    z.extend_from_slice(b"junk");
    let mut f = Vec::new();
    write_frame(&mut f, true, 4, opcode::TEXT, &z, Some(KEY));
    let ep = || {
        Endpoint::new(
            Role::Server,
            WsLimits::default(),
            Some(Deflate::new(p, Role::Server)),
        )
    };
    let whole = trace(&mut ep(), &[&f]);
    let bytes: Vec<&[u8]> = f.chunks(1).collect();
    assert_eq!(whole.last().unwrap(), "message Text(\"tok\")");
    assert_eq!(whole, trace(&mut ep(), &bytes));
}
