//! Frames (RFC 6455 §5.2): the header writer, the incremental frame decoder and masking.

/// Frame opcodes.
pub mod opcode {
    /// A continuation frame of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// The first frame of a text message.
    pub const TEXT: u8 = 0x1;
    /// The first frame of a binary message.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;

    /// Control frames have the high bit of the opcode set.
    pub fn is_control(op: u8) -> bool {
        op & 0x8 != 0
    }

    /// Opcodes RFC 6455 defines (the others are reserved).
    pub fn is_known(op: u8) -> bool {
        matches!(op, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG)
    }
}

/// A frame's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// RSV1..RSV3 as the low three bits (RSV1 = 4: permessage-deflate's "compressed").
    pub rsv: u8,
    /// The opcode.
    pub opcode: u8,
    /// The masking key, when masked.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

/// Largest header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER: usize = 14;

/// Writes a frame header to `out`; the payload follows (masked by the caller with
/// [`apply_mask`] when `mask` is given).
pub fn write_header(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    op: u8,
    mask: Option<[u8; 4]>,
    len: u64,
) {
    let mut b = [0u8; MAX_HEADER];
    let n = encode_header(&mut b, fin, rsv, op, mask, len);
    out.extend_from_slice(&b[..n]);
}

/// Encodes a frame header into `b`; returns its length.
pub fn encode_header(
    b: &mut [u8; MAX_HEADER],
    fin: bool,
    rsv: u8,
    op: u8,
    mask: Option<[u8; 4]>,
    len: u64,
) -> usize {
    b[0] = (u8::from(fin) << 7) | ((rsv & 7) << 4) | (op & 0xF);
    let m = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        b[1] = m | len as u8;
        2
    } else if len <= 0xFFFF {
        b[1] = m | 126;
        b[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        b[1] = m | 127;
        b[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    if let Some(k) = mask {
        b[n..n + 4].copy_from_slice(&k);
        n += 4;
    }
    n
}

/// XORs `data` with `key`, as if `data` started `offset` bytes into the payload. Eight bytes at
/// a time.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = [0u8; 4];
    for (i, b) in k.iter_mut().enumerate() {
        *b = key[(offset + i) & 3];
    }
    let word = u32::from_ne_bytes(k) as u64;
    let word = word | (word << 32);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i & 3];
    }
}

/// What a frame handler decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFlow {
    /// Go on.
    Continue,
    /// Stop decoding (an error or a close): the rest of the input is not looked at.
    Stop,
}

/// Receives what the [`FrameDecoder`] finds.
pub trait FrameHandler {
    /// A frame's header.
    fn on_header(&mut self, h: &FrameHeader) -> FrameFlow;
    /// Payload bytes, unmasked, in order; `offset` = bytes of this frame's payload before them.
    fn on_payload(&mut self, data: &[u8], offset: u64) -> FrameFlow;
    /// The frame's payload is complete (also for an empty payload).
    fn on_frame_end(&mut self) -> FrameFlow;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    Payload,
}

/// Incremental frame decoder: fed any split of the stream, it reports headers, unmasked
/// payload chunks and frame ends. It holds at most a partial header (14 bytes) and no
/// payload: chunks are unmasked into a caller's scratch buffer.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    state: State,
    hdr: [u8; MAX_HEADER],
    have: u8,
    cur: FrameHeader,
    /// Payload bytes of the current frame already delivered.
    done: u64,
    /// The handler stopped on the frame's last payload bytes: its end is reported first thing
    /// at the next feed.
    end_pending: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            state: State::Header,
            hdr: [0; MAX_HEADER],
            have: 0,
            cur: FrameHeader {
                fin: true,
                rsv: 0,
                opcode: 0,
                mask: None,
                len: 0,
            },
            done: 0,
            end_pending: false,
        }
    }
}

/// The header length implied by its first two bytes.
fn header_len(b0: u8, b1: u8) -> usize {
    let _ = b0;
    let ext = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl FrameDecoder {
    /// A decoder at a frame boundary.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// True between frames (no partial header, no payload pending).
    pub fn is_idle(&self) -> bool {
        self.state == State::Header && self.have == 0 && !self.end_pending
    }

    /// Feeds `input`; payload is unmasked into `scratch` (reused; grows to the largest chunk).
    /// Returns the bytes consumed (all of `input` unless a handler stopped).
    pub fn feed(&mut self, input: &[u8], scratch: &mut Vec<u8>, h: &mut dyn FrameHandler) -> usize {
        if self.end_pending {
            self.end_pending = false;
            if h.on_frame_end() == FrameFlow::Stop {
                return 0;
            }
        }
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Header => {
                    // Gather the first two bytes, then the rest of the header.
                    let need = if self.have < 2 {
                        2
                    } else {
                        header_len(self.hdr[0], self.hdr[1])
                    };
                    let take = (need - self.have as usize).min(input.len() - pos);
                    self.hdr[self.have as usize..self.have as usize + take]
                        .copy_from_slice(&input[pos..pos + take]);
                    self.have += take as u8;
                    pos += take;
                    if (self.have as usize) < need {
                        continue;
                    }
                    if need == 2 && header_len(self.hdr[0], self.hdr[1]) > 2 {
                        continue; // more header bytes follow
                    }
                    self.cur = parse_header(&self.hdr[..self.have as usize]);
                    self.have = 0;
                    self.done = 0;
                    if h.on_header(&self.cur) == FrameFlow::Stop {
                        return pos;
                    }
                    if self.cur.len == 0 {
                        if h.on_frame_end() == FrameFlow::Stop {
                            return pos;
                        }
                    } else {
                        self.state = State::Payload;
                    }
                }
                State::Payload => {
                    let left = self.cur.len - self.done;
                    let take = (left.min((input.len() - pos) as u64)) as usize;
                    let chunk = &input[pos..pos + take];
                    let offset = self.done;
                    let flow = match self.cur.mask {
                        Some(key) => {
                            scratch.clear();
                            scratch.extend_from_slice(chunk);
                            apply_mask(scratch, key, (offset & 3) as usize);
                            h.on_payload(scratch, offset)
                        }
                        None => h.on_payload(chunk, offset),
                    };
                    pos += take;
                    self.done += take as u64;
                    let ended = self.done == self.cur.len;
                    if ended {
                        self.state = State::Header;
                    }
                    if flow == FrameFlow::Stop {
                        self.end_pending = ended;
                        return pos;
                    }
                    if ended && h.on_frame_end() == FrameFlow::Stop {
                        return pos;
                    }
                }
            }
        }
        pos
    }
}

fn parse_header(b: &[u8]) -> FrameHeader {
    let fin = b[0] & 0x80 != 0;
    let rsv = (b[0] >> 4) & 7;
    let opcode = b[0] & 0xF;
    let masked = b[1] & 0x80 != 0;
    let (len, mut n) = match b[1] & 0x7F {
        126 => (u16::from_be_bytes([b[2], b[3]]) as u64, 4),
        127 => (
            u64::from_be_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]),
            10,
        ),
        l => (l as u64, 2),
    };
    let mask = masked.then(|| {
        let k = [b[n], b[n + 1], b[n + 2], b[n + 3]];
        n += 4;
        k
    });
    let _ = n;
    FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        len,
    }
}
