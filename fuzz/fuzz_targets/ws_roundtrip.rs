//! WebSocket write → read: messages a client frames (masked, compressed when negotiated and
//! worth it, or fragmented by hand with pings between the fragments) reach the server endpoint
//! as the same messages and pings, in order, whatever the reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{split, Input};
use shardnet_protocols::ws::{
    opcode, write_close, write_frame, Deflate, DeflateConfig, Endpoint, Message, Role, WsHandler,
    WsLimits,
};

#[derive(Debug, PartialEq, Clone)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Close(Option<u16>, String),
}

#[derive(Default)]
struct Rec(Vec<Ev>);

impl WsHandler for Rec {
    fn on_message(&mut self, m: Message<'_>) -> bool {
        self.0.push(match m {
            Message::Text(t) => Ev::Text(t.to_string()),
            Message::Binary(b) => Ev::Binary(b.to_vec()),
        });
        true
    }
    fn on_ping(&mut self, data: &[u8]) {
        self.0.push(Ev::Ping(data.to_vec()));
    }
    fn on_close(&mut self, code: Option<u16>, reason: &str) {
        self.0.push(Ev::Close(code, reason.to_string()));
    }
}

const OFFERS: [&str; 4] = [
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; client_max_window_bits=9",
    "permessage-deflate; client_max_window_bits=10; client_no_context_takeover",
];

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let cfg = inp.byte();
    let mut server_deflate = None;
    let mut client_deflate = None;
    if cfg & 1 != 0 {
        let server_cfg = DeflateConfig {
            min_size: (cfg >> 4) as usize,
            ..DeflateConfig::default()
        };
        let sp = server_cfg
            .accept_offer(OFFERS[(cfg as usize >> 1) & 3])
            .expect("offer accepted");
        let client_cfg = DeflateConfig {
            min_size: (cfg >> 4) as usize,
            ..DeflateConfig::default()
        };
        let cp = client_cfg.check_response(&sp.response()).expect("answer accepted");
        server_deflate = Some(Deflate::new(sp, Role::Server));
        client_deflate = Some(Deflate::new(cp, Role::Client));
    }
    let mut client = Endpoint::new(Role::Client, WsLimits::default(), client_deflate);
    let seed = inp.u64();
    let max_piece = (inp.byte() % 64) as usize;
    let mut wire = Vec::new();
    let mut want = Vec::new();
    while !inp.is_empty() {
        let kind = inp.byte();
        let mask = [inp.byte(), inp.byte(), inp.byte(), inp.byte()];
        let body = inp.chunk();
        match kind % 4 {
            0 => {
                client.write_message(&mut wire, opcode::BINARY, body, Some(mask));
                want.push(Ev::Binary(body.to_vec()));
            }
            1 => {
                let t = String::from_utf8_lossy(body).into_owned();
                client.write_message(&mut wire, opcode::TEXT, t.as_bytes(), Some(mask));
                want.push(Ev::Text(t));
            }
            2 => {
                // Fragmented by hand (uncompressed), a ping between the first two fragments.
                let t = String::from_utf8_lossy(body).into_owned();
                let b = t.as_bytes();
                let cut = (kind as usize / 4) % (b.len() + 1);
                write_frame(&mut wire, false, 0, opcode::TEXT, &b[..cut], Some(mask));
                write_frame(&mut wire, true, 0, opcode::PING, &b[..cut.min(125)], Some(mask));
                write_frame(&mut wire, true, 0, opcode::CONTINUATION, &b[cut..], Some(mask));
                want.push(Ev::Ping(b[..cut.min(125)].to_vec()));
                want.push(Ev::Text(t));
            }
            _ => {
                let p = &body[..body.len().min(125)];
                write_frame(&mut wire, true, 0, opcode::PING, p, Some(mask));
                want.push(Ev::Ping(p.to_vec()));
            }
        }
    }
    let reason = "bye \u{e9}";
    write_close(&mut wire, Some(1000), reason, Some([1, 2, 3, 4]));
    want.push(Ev::Close(Some(1000), reason.to_string()));

    let mut server = Endpoint::new(Role::Server, WsLimits::default(), server_deflate);
    let mut got = Rec::default();
    let mut scratch = Vec::new();
    for p in split(&wire, seed, max_piece) {
        let n = server.feed(p, &mut scratch, &mut got).expect("a valid stream");
        assert_eq!(n, p.len());
    }
    assert!(server.is_closed());
    assert_eq!(got.0, want);
});
