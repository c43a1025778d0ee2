//! WebSocket receive side (frames, masking rules, reassembly, control frames, close codes,
//! incremental UTF-8, permessage-deflate inflate under a size budget): whatever the reads, the
//! raw frame events, the messages, the close and the error code are those of the whole input;
//! no message exceeds `max_message`; close codes reported are valid ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{split, Input};
use shardnet_protocols::ws::{
    valid_close_code, Deflate, DeflateConfig, Endpoint, FrameHeader, Message, Role, WsHandler,
    WsLimits,
};

#[derive(Debug, PartialEq, Clone)]
enum Ev {
    Header(FrameHeader),
    Payload(Vec<u8>),
    FrameEnd,
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Err(u16),
}

struct Rec {
    ev: Vec<Ev>,
    limits: WsLimits,
    stop_on_message: bool,
}

impl WsHandler for Rec {
    fn on_frame_header(&mut self, h: &FrameHeader) {
        self.ev.push(Ev::Header(*h));
    }
    fn on_frame_payload(&mut self, data: &[u8]) {
        match self.ev.last_mut() {
            Some(Ev::Payload(p)) => p.extend_from_slice(data),
            _ => self.ev.push(Ev::Payload(data.to_vec())),
        }
    }
    fn on_frame_end(&mut self) {
        self.ev.push(Ev::FrameEnd);
    }
    fn on_message(&mut self, m: Message<'_>) -> bool {
        let len = match m {
            Message::Text(t) => {
                self.ev.push(Ev::Text(t.to_string()));
                t.len()
            }
            Message::Binary(b) => {
                self.ev.push(Ev::Binary(b.to_vec()));
                b.len()
            }
        };
        assert!(len as u64 <= self.limits.max_message, "message over the limit");
        !self.stop_on_message
    }
    fn on_ping(&mut self, data: &[u8]) {
        assert!(data.len() <= 125);
        self.ev.push(Ev::Ping(data.to_vec()));
    }
    fn on_pong(&mut self, data: &[u8]) {
        assert!(data.len() <= 125);
        self.ev.push(Ev::Pong(data.to_vec()));
    }
    fn on_close(&mut self, code: Option<u16>, reason: &str) {
        if let Some(c) = code {
            assert!(valid_close_code(c), "close code {c} reported");
        }
        self.ev.push(Ev::Close(code, reason.to_string()));
    }
}

const OFFERS: [&str; 4] = [
    "permessage-deflate",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; client_max_window_bits=9; server_no_context_takeover",
    "permessage-deflate; client_max_window_bits=8",
];

fn run(role: Role, limits: WsLimits, offer: Option<&str>, stop: bool, pieces: &[&[u8]]) -> Vec<Ev> {
    let deflate = offer.map(|o| {
        let p = DeflateConfig::default().accept_offer(o).expect("offer accepted");
        Deflate::new(p, role)
    });
    let mut ep = Endpoint::new(role, limits, deflate);
    let mut h = Rec {
        ev: Vec::new(),
        limits,
        stop_on_message: stop,
    };
    let mut scratch = Vec::new();
    for p in pieces {
        let mut piece: &[u8] = p;
        while !piece.is_empty() {
            match ep.feed(piece, &mut scratch, &mut h) {
                Ok(n) => {
                    assert!(n <= piece.len());
                    if ep.is_closed() {
                        return h.ev;
                    }
                    if n == 0 {
                        assert!(stop, "no progress without a stop");
                    }
                    piece = &piece[n..];
                }
                Err(e) => {
                    assert!(matches!(e.code, 1002 | 1007 | 1009), "close code {}", e.code);
                    h.ev.push(Ev::Err(e.code));
                    return h.ev;
                }
            }
        }
    }
    h.ev
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let cfg = inp.byte();
    let role = if cfg & 1 == 0 { Role::Server } else { Role::Client };
    let offer = (cfg & 2 != 0).then(|| OFFERS[(cfg as usize >> 2) & 3]);
    let stop = cfg & 16 != 0;
    let limits = WsLimits {
        max_frame: u64::from(inp.u16()),
        max_message: u64::from(inp.u32() % (1 << 18)),
    };
    let seed = inp.u64();
    let max_piece = (inp.byte() % 32) as usize;
    let stream = inp.rest();
    let mut whole = run(role, limits, offer, stop, &[stream]);
    let mut pieces = run(role, limits, offer, stop, &split(stream, seed, max_piece));
    // Raw payload is reported as it arrives and checked after: before an error, how much of
    // the offending frame was reported depends on the reads (a prefix either way).
    if let (Some(Ev::Err(_)), Some(Ev::Err(_))) = (whole.last(), pieces.last()) {
        let (n, m) = (whole.len(), pieces.len());
        if n >= 2 && m >= 2 {
            if let (Ev::Payload(a), Ev::Payload(b)) = (&whole[n - 2], &pieces[m - 2]) {
                let k = a.len().min(b.len());
                assert_eq!(a[..k], b[..k], "raw payloads differ");
                whole.remove(n - 2);
                pieces.remove(m - 2);
            }
        }
    }
    // Corrupt deflate data whose first output is invalid UTF-8 (1007) or over the size limit
    // (1009) is reported as such when the reads let the inflater emit that output before it
    // reaches the corruption, and as 1002 when both come in one call (zlib reports the error
    // without the output): each is a right answer.
    let compressed = whole.iter().any(|e| matches!(e, Ev::Header(h) if h.rsv & 4 != 0));
    if compressed {
        for ev in [&mut whole, &mut pieces] {
            if let Some(Ev::Err(c @ (1007 | 1009))) = ev.last_mut() {
                *c = 1002;
            }
        }
    }
    assert_eq!(whole, pieces, "events depend on how the bytes were split");
});
