//! One WebSocket endpoint's receive side and frame writers: validation (RFC 6455 §5), message
//! reassembly with incremental UTF-8 checks, control frames, the close frame's code, and
//! permessage-deflate — all without I/O.

use super::deflate::{DecompressError, Deflate, Role};
use super::frame::{
    apply_mask, encode_header, opcode, FrameDecoder, FrameFlow, FrameHandler, FrameHeader,
    MAX_HEADER,
};
use super::utf8::Utf8Validator;

/// Size limits, checked before memory is committed for what a peer announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest frame payload (default 16 MiB).
    pub max_frame: u64,
    /// Largest message, reassembled and inflated (default 64 MiB).
    pub max_message: u64,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_frame: 16 << 20,
            max_message: 64 << 20,
        }
    }
}

/// A whole message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Text (valid UTF-8).
    Text(&'a str),
    /// Binary.
    Binary(&'a [u8]),
}

/// Why the connection must be closed, with the close code to send (1002 protocol error, 1007
/// invalid text, 1009 too big).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseError {
    /// The close code.
    pub code: u16,
    /// What happened.
    pub reason: &'static str,
}

impl std::fmt::Display for CloseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

fn err(code: u16, reason: &'static str) -> CloseError {
    CloseError { code, reason }
}

/// What the endpoint reports. Raw frame callbacks (HP-Socket's `OnWSMessageHeader/Body/
/// Complete`) come first for every frame; the message-level ones follow.
#[allow(unused_variables)]
pub trait WsHandler {
    /// A frame's header (raw).
    fn on_frame_header(&mut self, h: &FrameHeader) {}
    /// Unmasked payload bytes of the current frame (raw; compressed data as received).
    fn on_frame_payload(&mut self, data: &[u8]) {}
    /// The frame ended (raw).
    fn on_frame_end(&mut self) {}
    /// A whole message. Return false to stop reading.
    fn on_message(&mut self, m: Message<'_>) -> bool;
    /// A ping (answer it with a pong carrying `data`).
    fn on_ping(&mut self, data: &[u8]) {}
    /// A pong.
    fn on_pong(&mut self, data: &[u8]) {}
    /// The peer's close frame: its code (None when it sent none: 1005) and reason. Nothing
    /// after it is read.
    fn on_close(&mut self, code: Option<u16>, reason: &str) {}
}

/// Close codes a peer may send (RFC 6455 §7.4; 1012-1014 are not in RFC 6455's table and
/// Autobahn 0.8.2 rejects them too).
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[derive(Debug)]
struct MsgState {
    role: Role,
    limits: WsLimits,
    /// Boxed: a connection without compression pays one pointer.
    deflate: Option<Box<Deflate>>,
    cur: FrameHeader,
    /// Opcode of the message in progress (0: none).
    msg_op: u8,
    msg_compressed: bool,
    /// Bytes of the message so far (after inflating).
    msg_len: u64,
    /// Reassembly buffer; empty (no allocation) between messages.
    msg: Vec<u8>,
    /// The current frame was delivered whole from the input (no copy).
    delivered: bool,
    utf8: Utf8Validator,
    /// A control frame's payload (at most 125 bytes).
    ctrl: Vec<u8>,
    closed: bool,
}

/// One connection's receive side.
#[derive(Debug)]
pub struct Endpoint {
    dec: FrameDecoder,
    st: MsgState,
}

impl Endpoint {
    /// An endpoint of `role` (a server requires masked frames, a client unmasked ones), with
    /// permessage-deflate state when negotiated.
    pub fn new(role: Role, limits: WsLimits, deflate: Option<Deflate>) -> Endpoint {
        Endpoint {
            dec: FrameDecoder::new(),
            st: MsgState {
                role,
                limits,
                deflate: deflate.map(Box::new),
                cur: FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: 0,
                    mask: None,
                    len: 0,
                },
                msg_op: 0,
                msg_compressed: false,
                msg_len: 0,
                msg: Vec::new(),
                delivered: false,
                utf8: Utf8Validator::new(),
                ctrl: Vec::new(),
                closed: false,
            },
        }
    }

    /// True between messages with no partial frame.
    pub fn is_idle(&self) -> bool {
        self.dec.is_idle() && self.st.msg_op == 0
    }

    /// The peer's close frame has been read.
    pub fn is_closed(&self) -> bool {
        self.st.closed
    }

    /// The compression state, when negotiated.
    pub fn deflate(&mut self) -> Option<&mut Deflate> {
        self.st.deflate.as_deref_mut()
    }

    /// Feeds `input`; `scratch` is a reusable buffer (one per shard will do). Returns the bytes
    /// consumed (fewer than given after a close frame or when the handler stopped); an Err is
    /// a protocol violation to answer with a close frame of its code.
    pub fn feed(
        &mut self,
        input: &[u8],
        scratch: &mut Vec<u8>,
        h: &mut dyn WsHandler,
    ) -> Result<usize, CloseError> {
        if self.st.closed {
            return Ok(0);
        }
        let mut step = Step {
            st: &mut self.st,
            h,
            err: None,
            stopped: false,
        };
        let n = self.dec.feed(input, scratch, &mut step);
        match step.err {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// Frames a message for sending (compressed when negotiated and worth it), masked with
    /// `mask` (clients). Returns the frame's bytes appended to `out`.
    pub fn write_message(
        &mut self,
        out: &mut Vec<u8>,
        op: u8,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) {
        match self.st.deflate.as_mut() {
            Some(d) if d.worth(payload.len()) => {
                let mut z = Vec::with_capacity(payload.len() / 2 + 16);
                d.compress(payload, &mut z);
                write_frame(out, true, 4, op, &z, mask);
            }
            _ => write_frame(out, true, 0, op, payload, mask),
        }
    }
}

/// Appends one frame: header, then `payload` (masked with `mask` when given).
pub fn write_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    op: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let mut b = [0u8; MAX_HEADER];
    let n = encode_header(&mut b, fin, rsv, op, mask, payload.len() as u64);
    out.reserve(n + payload.len());
    out.extend_from_slice(&b[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut out[start..], k, 0);
    }
}

/// Appends a close frame with `code` and `reason` (truncated to fit 125 bytes on a character
/// boundary); `code` None sends an empty close.
pub fn write_close(out: &mut Vec<u8>, code: Option<u16>, reason: &str, mask: Option<[u8; 4]>) {
    let mut p = Vec::with_capacity(2 + reason.len().min(123));
    if let Some(c) = code {
        p.extend_from_slice(&c.to_be_bytes());
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        p.extend_from_slice(&reason.as_bytes()[..end]);
    }
    write_frame(out, true, 0, opcode::CLOSE, &p, mask);
}

struct Step<'a> {
    st: &'a mut MsgState,
    h: &'a mut dyn WsHandler,
    err: Option<CloseError>,
    stopped: bool,
}

impl Step<'_> {
    fn fail(&mut self, code: u16, reason: &'static str) -> FrameFlow {
        self.err = Some(err(code, reason));
        FrameFlow::Stop
    }

    fn finish_message(&mut self) -> FrameFlow {
        let st = &mut *self.st;
        if st.msg_compressed {
            let budget = st.limits.max_message - st.msg_len;
            let (msg, utf8, text) = (&mut st.msg, &mut st.utf8, st.msg_op == opcode::TEXT);
            let mut bad = false;
            let r = st.deflate.as_mut().map(|d| {
                d.decompress(&[], true, budget, &mut |o| {
                    if text && !utf8.push(o) {
                        bad = true;
                        return false;
                    }
                    msg.extend_from_slice(o);
                    true
                })
            });
            match r {
                Some(Ok(n)) => st.msg_len += n,
                Some(Err(DecompressError::TooBig)) => return self.fail(1009, "message too big"),
                Some(Err(_)) if bad => return self.fail(1007, "invalid UTF-8 in a text message"),
                _ => return self.fail(1002, "bad compressed data"),
            }
        }
        let st = &mut *self.st;
        let op = st.msg_op;
        st.msg_op = 0;
        if op == opcode::TEXT && !st.utf8.is_complete() {
            return self.fail(1007, "text message ends inside a character");
        }
        let msg = std::mem::take(&mut st.msg);
        let go = if op == opcode::TEXT {
            match std::str::from_utf8(&msg) {
                Ok(t) => self.h.on_message(Message::Text(t)),
                Err(_) => return self.fail(1007, "invalid UTF-8 in a text message"),
            }
        } else {
            self.h.on_message(Message::Binary(&msg))
        };
        if go {
            FrameFlow::Continue
        } else {
            self.stopped = true;
            FrameFlow::Stop
        }
    }
}

impl FrameHandler for Step<'_> {
    fn on_header(&mut self, fh: &FrameHeader) -> FrameFlow {
        self.h.on_frame_header(fh);
        let st = &mut *self.st;
        st.cur = *fh;
        st.delivered = false;
        let op = fh.opcode;
        if !opcode::is_known(op) {
            return self.fail(1002, "reserved opcode");
        }
        let compressed = fh.rsv & 4 != 0;
        if fh.rsv & 3 != 0 || (compressed && st.deflate.is_none()) {
            return self.fail(1002, "reserved bits set");
        }
        match (st.role, fh.mask.is_some()) {
            (Role::Server, false) => return self.fail(1002, "a client frame must be masked"),
            (Role::Client, true) => return self.fail(1002, "a server frame must not be masked"),
            _ => {}
        }
        if fh.len > i64::MAX as u64 {
            return self.fail(1002, "frame length's high bit set");
        }
        if opcode::is_control(op) {
            if !fh.fin {
                return self.fail(1002, "fragmented control frame");
            }
            if fh.len > 125 {
                return self.fail(1002, "control frame over 125 bytes");
            }
            if compressed {
                return self.fail(1002, "compressed control frame");
            }
            st.ctrl.clear();
            return FrameFlow::Continue;
        }
        if fh.len > st.limits.max_frame {
            return self.fail(1009, "frame too big");
        }
        if op == opcode::CONTINUATION {
            if st.msg_op == 0 {
                return self.fail(1002, "continuation without a message");
            }
            if compressed {
                return self.fail(1002, "RSV1 on a continuation frame");
            }
        } else {
            if st.msg_op != 0 {
                return self.fail(1002, "new message inside a fragmented one");
            }
            st.msg_op = op;
            st.msg_compressed = compressed;
            st.msg_len = 0;
            st.utf8.reset();
        }
        if !st.msg_compressed && st.msg_len + fh.len > st.limits.max_message {
            return self.fail(1009, "message too big");
        }
        FrameFlow::Continue
    }

    fn on_payload(&mut self, data: &[u8], offset: u64) -> FrameFlow {
        self.h.on_frame_payload(data);
        let st = &mut *self.st;
        let op = st.cur.opcode;
        if opcode::is_control(op) {
            st.ctrl.extend_from_slice(data);
            return FrameFlow::Continue;
        }
        let text = st.msg_op == opcode::TEXT;
        if st.msg_compressed {
            let budget = st.limits.max_message - st.msg_len;
            let (msg, utf8) = (&mut st.msg, &mut st.utf8);
            let mut bad = false;
            let r = st.deflate.as_mut().map(|d| {
                d.decompress(data, false, budget, &mut |o| {
                    if text && !utf8.push(o) {
                        bad = true;
                        return false;
                    }
                    msg.extend_from_slice(o);
                    true
                })
            });
            return match r {
                Some(Ok(n)) => {
                    st.msg_len += n;
                    FrameFlow::Continue
                }
                Some(Err(DecompressError::TooBig)) => self.fail(1009, "message too big"),
                Some(Err(_)) if bad => self.fail(1007, "invalid UTF-8 in a text message"),
                _ => self.fail(1002, "bad compressed data"),
            };
        }
        // A whole unfragmented message in one piece: delivered from the input, no copy.
        if st.cur.fin
            && offset == 0
            && data.len() as u64 == st.cur.len
            && st.msg.is_empty()
            && st.cur.opcode != opcode::CONTINUATION
        {
            // The events are those of the general path (found by the `ws_endpoint` fuzz
            // target): bytes that cannot start valid text fail before the frame's end is
            // reported; otherwise the raw frame end comes first, then the message (or 1007
            // for text that ends inside a character).
            let valid_text = if text {
                match std::str::from_utf8(data) {
                    Ok(t) => Some(t),
                    Err(e) if e.error_len().is_some() => {
                        return self.fail(1007, "invalid UTF-8 in a text message")
                    }
                    Err(_) => None,
                }
            } else {
                None
            };
            self.h.on_frame_end();
            st.delivered = true;
            st.msg_op = 0;
            st.msg_len = data.len() as u64;
            let go = match (text, valid_text) {
                (false, _) => self.h.on_message(Message::Binary(data)),
                (true, Some(t)) => self.h.on_message(Message::Text(t)),
                (true, None) => return self.fail(1007, "text message ends inside a character"),
            };
            if !go {
                self.stopped = true;
                return FrameFlow::Stop;
            }
            return FrameFlow::Continue;
        }
        if text && !st.utf8.push(data) {
            return self.fail(1007, "invalid UTF-8 in a text message");
        }
        st.msg.extend_from_slice(data);
        st.msg_len += data.len() as u64;
        FrameFlow::Continue
    }

    fn on_frame_end(&mut self) -> FrameFlow {
        if self.st.delivered {
            // Delivered whole by `on_payload`, which reported the frame's end itself.
            self.st.delivered = false;
            return FrameFlow::Continue;
        }
        self.h.on_frame_end();
        let op = self.st.cur.opcode;
        match op {
            opcode::PING => {
                let p = std::mem::take(&mut self.st.ctrl);
                self.h.on_ping(&p);
                self.st.ctrl = p;
                FrameFlow::Continue
            }
            opcode::PONG => {
                let p = std::mem::take(&mut self.st.ctrl);
                self.h.on_pong(&p);
                self.st.ctrl = p;
                FrameFlow::Continue
            }
            opcode::CLOSE => {
                self.st.closed = true;
                let p = std::mem::take(&mut self.st.ctrl);
                match p.len() {
                    0 => self.h.on_close(None, ""),
                    1 => return self.fail(1002, "close frame with a one-byte body"),
                    _ => {
                        let code = u16::from_be_bytes([p[0], p[1]]);
                        if !valid_close_code(code) {
                            return self.fail(1002, "invalid close code");
                        }
                        match std::str::from_utf8(&p[2..]) {
                            Ok(reason) => self.h.on_close(Some(code), reason),
                            Err(_) => return self.fail(1007, "close reason is not UTF-8"),
                        }
                    }
                }
                FrameFlow::Stop
            }
            _ => {
                if self.st.cur.fin {
                    if self.st.cur.len == 0 && self.st.msg_op == 0 {
                        return FrameFlow::Continue;
                    }
                    self.finish_message()
                } else {
                    FrameFlow::Continue
                }
            }
        }
    }
}
