//! HTTP/1.1 request decoding (heads on httparse, Content-Length and chunked bodies, trailers,
//! upgrade, handler stops): whatever the reads, the events, the error status and the bytes
//! left after an upgrade are those of the whole input; a refused request carries one of the
//! statuses a server answers; the decoder never buffers more than the head limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{split, Input};
use shardnet_protocols::http::{
    BodyHandler, Feed, Flow, HeadAction, Limits, RequestDecoder, RequestHandler, RequestHead,
};

#[derive(Debug, PartialEq, Clone)]
enum Ev {
    Begin,
    Head(String),
    ChunkHeader(u64),
    Body(Vec<u8>),
    ChunkComplete,
    Trailer(String, Vec<u8>),
    Complete,
    Err(u16),
    Upgraded(Vec<u8>),
}

struct Rec {
    ev: Vec<Ev>,
    /// 0: deliver everything; 1: skip odd-length targets' bodies; 2: take upgrades;
    /// 3: refuse targets containing 'x'.
    action: u8,
    stop_on_complete: bool,
    stop_on_body: bool,
}

impl BodyHandler for Rec {
    fn on_chunk_header(&mut self, len: u64) {
        self.ev.push(Ev::ChunkHeader(len));
    }
    fn on_body(&mut self, data: &[u8]) -> Flow {
        assert!(!data.is_empty(), "empty body callback");
        match self.ev.last_mut() {
            Some(Ev::Body(b)) => b.extend_from_slice(data),
            _ => self.ev.push(Ev::Body(data.to_vec())),
        }
        if self.stop_on_body {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
    fn on_chunk_complete(&mut self) {
        self.ev.push(Ev::ChunkComplete);
    }
    fn on_trailer(&mut self, name: &str, value: &[u8]) {
        self.ev.push(Ev::Trailer(name.to_string(), value.to_vec()));
    }
    fn on_message_complete(&mut self) -> Flow {
        self.ev.push(Ev::Complete);
        if self.stop_on_complete {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

impl RequestHandler for Rec {
    fn on_message_begin(&mut self) {
        self.ev.push(Ev::Begin);
    }
    fn on_head(&mut self, h: &RequestHead<'_>) -> HeadAction {
        let fields: Vec<(&str, &[u8])> = h.headers.iter().map(|f| (f.name, f.value)).collect();
        assert!(h.version <= 1);
        self.ev.push(Ev::Head(format!(
            "{} {} {} {:?} {:?} {} {:?} {}",
            h.method, h.target, h.version, fields, h.framing, h.keep_alive, h.upgrade,
            h.expect_continue
        )));
        match self.action {
            1 if h.target.len() % 2 == 1 => HeadAction::SkipBody,
            2 if h.upgrade.is_some() => HeadAction::Upgrade,
            3 if h.target.contains('x') => HeadAction::Error,
            _ => HeadAction::Continue,
        }
    }
}

fn run(limits: Limits, cfg: u8, pieces: &[&[u8]]) -> Vec<Ev> {
    let mut d = RequestDecoder::new(limits);
    let mut h = Rec {
        ev: Vec::new(),
        action: cfg & 3,
        stop_on_complete: cfg & 4 != 0,
        stop_on_body: cfg & 8 != 0,
    };
    for (i, p) in pieces.iter().enumerate() {
        let mut piece: &[u8] = p;
        loop {
            match d.feed(piece, &mut h) {
                Ok(Feed::Consumed) => break,
                // The component resumes with the rest of the read (possibly nothing).
                Ok(Feed::Stopped { consumed }) => piece = &piece[consumed..],
                Ok(Feed::Upgraded { consumed }) => {
                    let mut rest = piece[consumed..].to_vec();
                    for q in &pieces[i + 1..] {
                        rest.extend_from_slice(q);
                    }
                    h.ev.push(Ev::Upgraded(rest));
                    return h.ev;
                }
                Err(e) => {
                    assert!(
                        matches!(e.status(), 400 | 413 | 414 | 431 | 501 | 505),
                        "status {}",
                        e.status()
                    );
                    h.ev.push(Ev::Err(e.status()));
                    return h.ev;
                }
            }
        }
        // A split head is copied, never more than the head limit (plus Vec's rounding).
        assert!(
            d.buffered() <= 2 * (limits.max_head + 1),
            "buffered {} with max_head {}",
            d.buffered(),
            limits.max_head
        );
    }
    h.ev
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let cfg = inp.byte();
    let limits = Limits {
        max_head: 16 + (inp.u16() as usize % 4096),
        max_headers: 1 + (inp.byte() as usize % 32),
        max_chunk_ext: inp.byte() as usize,
    };
    let seed = inp.u64();
    let max_piece = (inp.byte() % 32) as usize;
    let stream = inp.rest();
    let whole = run(limits, cfg, &[stream]);
    let pieces = run(limits, cfg, &split(stream, seed, max_piece));
    assert_eq!(whole, pieces, "events depend on how the bytes were split");
});
