//! HTTP/1.1 response decoding (status line, framing by HEAD/1xx/204/304, Content-Length,
//! chunked, read-until-close, 101): whatever the reads, the events, the error and the end of
//! stream are those of the whole input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{split, Input};
use shardnet_protocols::http::{
    BodyHandler, Feed, Flow, HeadAction, Limits, ResponseDecoder, ResponseHandler, ResponseHead,
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
    Refused,
    Finish(Option<u16>),
}

struct Rec {
    ev: Vec<Ev>,
    /// Refuse responses with this status (HeadAction::Error).
    refuse: u16,
    skip_odd: bool,
    stop_on_complete: bool,
    refused: bool,
}

impl BodyHandler for Rec {
    fn on_chunk_header(&mut self, len: u64) {
        self.ev.push(Ev::ChunkHeader(len));
    }
    fn on_body(&mut self, data: &[u8]) -> Flow {
        match self.ev.last_mut() {
            Some(Ev::Body(b)) => b.extend_from_slice(data),
            _ => self.ev.push(Ev::Body(data.to_vec())),
        }
        Flow::Continue
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

impl ResponseHandler for Rec {
    fn on_message_begin(&mut self) {
        self.ev.push(Ev::Begin);
    }
    fn on_head(&mut self, h: &ResponseHead<'_>) -> HeadAction {
        let fields: Vec<(&str, &[u8])> = h.headers.iter().map(|f| (f.name, f.value)).collect();
        self.ev.push(Ev::Head(format!(
            "{} {:?} {} {:?} {:?} {}",
            h.status, h.reason, h.version, fields, h.framing, h.keep_alive
        )));
        if h.status == self.refuse {
            self.refused = true;
            HeadAction::Error
        } else if self.skip_odd && h.status % 2 == 1 {
            HeadAction::SkipBody
        } else {
            HeadAction::Continue
        }
    }
}

fn run(limits: Limits, cfg: u8, refuse: u16, heads: u32, pieces: &[&[u8]]) -> Vec<Ev> {
    let mut d = ResponseDecoder::new(limits);
    for i in 0..32 {
        d.expect(heads & (1 << i) != 0);
    }
    let mut h = Rec {
        ev: Vec::new(),
        refuse,
        skip_odd: cfg & 1 != 0,
        stop_on_complete: cfg & 2 != 0,
        refused: false,
    };
    for (i, p) in pieces.iter().enumerate() {
        let mut piece: &[u8] = p;
        loop {
            match d.feed(piece, &mut h) {
                Ok(Feed::Consumed) => break,
                Ok(Feed::Stopped { .. }) if h.refused => {
                    h.ev.push(Ev::Refused);
                    return h.ev;
                }
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
                    h.ev.push(Ev::Err(e.status()));
                    return h.ev;
                }
            }
        }
    }
    let fin = d.finish(&mut h).err().map(|e| e.status());
    h.ev.push(Ev::Finish(fin));
    h.ev
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let cfg = inp.byte();
    let refuse = inp.u16() % 1000;
    let heads = inp.u32();
    let limits = Limits {
        max_head: 16 + (inp.u16() as usize % 4096),
        max_headers: 1 + (inp.byte() as usize % 32),
        max_chunk_ext: inp.byte() as usize,
    };
    let seed = inp.u64();
    let max_piece = (inp.byte() % 32) as usize;
    let stream = inp.rest();
    let whole = run(limits, cfg, refuse, heads, &[stream]);
    let pieces = run(limits, cfg, refuse, heads, &split(stream, seed, max_piece));
    assert_eq!(whole, pieces, "events depend on how the bytes were split");
});
