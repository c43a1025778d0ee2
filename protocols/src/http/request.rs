//! The request decoder: heads on `httparse`, bodies framed by Content-Length or chunked.

use super::head::RequestHead;
use super::{BodyFraming, HttpError};
use std::mem::MaybeUninit;

/// Bounds checked before memory is committed to what a peer sends (nginx-like defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line + fields), bytes (default 8 KiB). Longer: 431, or
    /// 414 when the request line alone does not end within it.
    pub max_head: usize,
    /// Most header fields (default 100, at most [`Limits::MAX_HEADERS_CAP`]). More: 431.
    pub max_headers: usize,
    /// Longest chunk-extension, bytes (default 4 KiB). Longer: 400.
    pub max_chunk_ext: usize,
}

impl Limits {
    /// Upper bound for [`Limits::max_headers`] (the parser's field array lives on the stack).
    pub const MAX_HEADERS_CAP: usize = 256;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 << 10,
            max_headers: 100,
            max_chunk_ext: 4 << 10,
        }
    }
}

/// What to do after the head (HP-Socket's `HPR_OK` / `HPR_SKIP_BODY` / `HPR_UPGRADE` /
/// `HPR_ERROR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadAction {
    /// Deliver the body.
    Continue,
    /// Read past the body without delivering it.
    SkipBody,
    /// Stop decoding: the bytes after the head belong to another protocol.
    Upgrade,
    /// Stop: the caller closes the connection.
    Error,
}

/// Whether the decoder goes on after a body chunk or a complete message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep decoding.
    Continue,
    /// Stop now; [`Feed::Stopped`] says how much input was used.
    Stop,
}

/// The callbacks of one connection's requests (HP-Socket's HTTP listener, minus the socket);
/// the body callbacks are [`BodyHandler`]'s.
pub trait RequestHandler: BodyHandler {
    /// A new request starts (its first byte arrived).
    fn on_message_begin(&mut self) {}
    /// The head is complete and valid.
    fn on_head(&mut self, head: &RequestHead<'_>) -> HeadAction;
}

/// The body callbacks of a message, request or response.
pub trait BodyHandler {
    /// A chunk of `len` bytes follows (chunked bodies; 0 = the last chunk).
    fn on_chunk_header(&mut self, _len: u64) {}
    /// Body bytes, de-chunked, as they arrive.
    fn on_body(&mut self, _data: &[u8]) -> Flow {
        Flow::Continue
    }
    /// The current chunk ended (after the last chunk: after the trailers).
    fn on_chunk_complete(&mut self) {}
    /// A trailer field of a chunked body.
    fn on_trailer(&mut self, _name: &str, _value: &[u8]) {}
    /// The message is complete.
    fn on_message_complete(&mut self) -> Flow;
}

/// How a [`RequestDecoder::feed`] call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Every byte was used; more may come.
    Consumed,
    /// The handler stopped the decoder after `consumed` bytes of this input.
    Stopped {
        /// Bytes of the input used.
        consumed: usize,
    },
    /// The request switched protocols; the input after `consumed` belongs to the new protocol.
    Upgraded {
        /// Bytes of the input that were HTTP.
        consumed: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of the size line.
    Size { n: u64, digits: u8 },
    /// A chunk-extension (skipped, bounded).
    Ext { n: u64, len: usize },
    /// CR of the size line seen; LF next.
    SizeLf { n: u64 },
    /// Chunk data.
    Data { left: u64 },
    /// CR after the data.
    DataCr,
    /// LF after the data.
    DataLf,
    /// The trailer section after the last chunk (collected in `buf`).
    Trailers,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Between requests: nothing buffered.
    Idle,
    /// Part of a head is in `buf`.
    Head,
    /// A Content-Length body with `left` bytes to go.
    Length { left: u64 },
    /// A chunked body.
    Chunked(Chunk),
    /// Upgraded: HTTP is over on this connection.
    Upgraded,
    /// A framing error was reported: the connection must close.
    Failed(HttpError),
}

/// One connection's request stream. Between requests it holds no heap memory.
#[derive(Debug)]
pub struct RequestDecoder {
    limits: Limits,
    state: State,
    /// A head (or trailer section) split across reads; empty otherwise.
    buf: Vec<u8>,
    /// The current body is read past, not delivered (`HeadAction::SkipBody`).
    skip: bool,
}

fn http_error(e: httparse::Error) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::new(431, "too many header fields"),
        httparse::Error::Version => HttpError::new(505, "HTTP version not supported"),
        httparse::Error::HeaderName => HttpError::bad("invalid header field name"),
        httparse::Error::HeaderValue => HttpError::bad("invalid header field value"),
        httparse::Error::NewLine => HttpError::bad("invalid line ending"),
        httparse::Error::Token => HttpError::bad("invalid request line"),
        _ => HttpError::bad("malformed request"),
    }
}

impl RequestDecoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> RequestDecoder {
        RequestDecoder {
            limits: Limits {
                max_headers: limits.max_headers.clamp(1, Limits::MAX_HEADERS_CAP),
                ..limits
            },
            state: State::Idle,
            buf: Vec::new(),
            skip: false,
        }
    }

    /// True between requests with nothing buffered (the decoder may be dropped and recreated).
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle && self.buf.is_empty()
    }

    /// Starts a body framed by `framing` without a head (the response decoder's bodies);
    /// `skip` reads past it without delivering it.
    pub(crate) fn start_body(&mut self, framing: BodyFraming, skip: bool) {
        self.skip = skip;
        self.buf = Vec::new();
        self.state = match framing {
            BodyFraming::None | BodyFraming::Length(0) => State::Idle,
            BodyFraming::Length(n) => State::Length { left: n },
            BodyFraming::Chunked => State::Chunked(Chunk::Size { n: 0, digits: 0 }),
        };
    }

    /// True while a request body is being read (its head is complete, its end is not).
    pub fn in_body(&self) -> bool {
        matches!(self.state, State::Length { .. } | State::Chunked(_))
    }

    /// True while part of a head has arrived and its end has not (the header timeout runs).
    pub fn in_head(&self) -> bool {
        self.state == State::Head
    }

    /// Heap bytes held (a split head or trailer section; 0 between requests).
    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// Feeds `input`, calling `h` for everything in it. After an `Err` the connection must be
    /// closed (the same error is returned again).
    pub fn feed(&mut self, input: &[u8], h: &mut dyn RequestHandler) -> Result<Feed, HttpError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        match self.run(input, h) {
            Ok(f) => Ok(f),
            Err(e) => {
                self.state = State::Failed(e.clone());
                self.buf = Vec::new();
                Err(e)
            }
        }
    }

    fn run(&mut self, input: &[u8], h: &mut dyn RequestHandler) -> Result<Feed, HttpError> {
        // A body whose last bytes came with a Stop: complete the message now.
        if self.state == (State::Length { left: 0 }) {
            if let Some(f) = self.complete(0, h) {
                return Ok(f);
            }
        }
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Upgraded => return Ok(Feed::Upgraded { consumed: pos }),
                State::Failed(ref e) => return Err(e.clone()),
                State::Idle => {
                    // Empty lines before a request line are ignored (RFC 9112 §2.2).
                    let b = input[pos];
                    if b == b'\r' || b == b'\n' {
                        pos += 1;
                        continue;
                    }
                    h.on_message_begin();
                    match self.head_in_place(&input[pos..], h)? {
                        HeadStep::Done { used, action } => {
                            pos += used;
                            if let Some(f) = self.after_head(action, pos, h)? {
                                return Ok(f);
                            }
                        }
                        HeadStep::Partial => {
                            self.buf.extend_from_slice(&input[pos..]);
                            self.state = State::Head;
                            return Ok(Feed::Consumed);
                        }
                    }
                }
                State::Head => {
                    let old = self.buf.len();
                    let room = self.limits.max_head.saturating_add(1).saturating_sub(old);
                    let take = room.min(input.len() - pos);
                    self.buf.extend_from_slice(&input[pos..pos + take]);
                    let buf = std::mem::take(&mut self.buf);
                    let step = self.head_in_place(&buf, h);
                    match step {
                        Ok(HeadStep::Done { used, action }) => {
                            // The head ended `used - old` bytes into this input.
                            pos += used - old;
                            drop(buf);
                            if let Some(f) = self.after_head(action, pos, h)? {
                                return Ok(f);
                            }
                        }
                        Ok(HeadStep::Partial) => {
                            self.buf = buf;
                            return Ok(Feed::Consumed);
                        }
                        Err(e) => return Err(e),
                    }
                }
                State::Length { left } => {
                    let n = (left.min((input.len() - pos) as u64)) as usize;
                    let data = &input[pos..pos + n];
                    pos += n;
                    let left = left - n as u64;
                    self.state = State::Length { left };
                    if !self.skip && n > 0 && h.on_body(data) == Flow::Stop {
                        return Ok(Feed::Stopped { consumed: pos });
                    }
                    if left == 0 {
                        if let Some(f) = self.complete(pos, h) {
                            return Ok(f);
                        }
                    }
                }
                State::Chunked(c) => {
                    if let Some(f) = self.chunked(c, input, &mut pos, h)? {
                        return Ok(f);
                    }
                }
            }
        }
        Ok(match self.state {
            State::Upgraded => Feed::Upgraded { consumed: pos },
            _ => Feed::Consumed,
        })
    }

    /// Parses a head at the start of `data`: `Partial` when it does not end in `data` (limits
    /// checked), else the head's length and what the handler wants.
    fn head_in_place(
        &mut self,
        data: &[u8],
        h: &mut dyn RequestHandler,
    ) -> Result<HeadStep, HttpError> {
        // The parser sees at most one byte past the head limit, as it does when the head
        // arrives in pieces (then only that much is buffered): the answer for a long head is
        // the same whatever the reads were (found by the `http_request` fuzz target).
        let data = &data[..data.len().min(self.limits.max_head.saturating_add(1))];
        let mut fields =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; Limits::MAX_HEADERS_CAP];
        let mut req = httparse::Request::new(&mut []);
        let parsed = req.parse_with_uninit_headers(data, &mut fields[..self.limits.max_headers]);
        match parsed {
            Ok(httparse::Status::Complete(used)) => {
                if used > self.limits.max_head {
                    return Err(HttpError::new(431, "request head too large"));
                }
                // httparse accepts a bare LF as a line end; the chunked framing here does not,
                // and a proxy that splits lines only at CRLF would see different fields.
                if has_bare_lf(&data[..used]) {
                    return Err(HttpError::bad("bare LF in the request head"));
                }
                let head = RequestHead::validate(
                    req.method.unwrap_or(""),
                    req.path.unwrap_or(""),
                    req.version.unwrap_or(1),
                    req.headers,
                )?;
                let framing = head.framing;
                let action = h.on_head(&head);
                self.skip = action == HeadAction::SkipBody;
                self.state = match (action, framing) {
                    (HeadAction::Upgrade, _) => State::Upgraded,
                    (HeadAction::Error, _) => {
                        State::Failed(HttpError::bad("the handler refused the request"))
                    }
                    (_, BodyFraming::None) | (_, BodyFraming::Length(0)) => State::Idle,
                    (_, BodyFraming::Length(n)) => State::Length { left: n },
                    (_, BodyFraming::Chunked) => State::Chunked(Chunk::Size { n: 0, digits: 0 }),
                };
                Ok(HeadStep::Done { used, action })
            }
            Ok(httparse::Status::Partial) => {
                if data.len() > self.limits.max_head {
                    return Err(if data.contains(&b'\n') {
                        HttpError::new(431, "request head too large")
                    } else {
                        HttpError::new(414, "request line too long")
                    });
                }
                Ok(HeadStep::Partial)
            }
            Err(httparse::Error::Version) if !names_an_http_version(data) => {
                Err(HttpError::bad("invalid HTTP-version"))
            }
            Err(e) => Err(http_error(e)),
        }
    }

    /// After a head: an empty body completes the message at once; Upgrade and Error stop.
    fn after_head(
        &mut self,
        action: HeadAction,
        pos: usize,
        h: &mut dyn RequestHandler,
    ) -> Result<Option<Feed>, HttpError> {
        match action {
            HeadAction::Upgrade => Ok(Some(Feed::Upgraded { consumed: pos })),
            HeadAction::Error => Ok(Some(Feed::Stopped { consumed: pos })),
            _ if self.state == State::Idle => Ok(self.complete(pos, h)),
            _ => Ok(None),
        }
    }

    fn complete(&mut self, pos: usize, h: &mut dyn RequestHandler) -> Option<Feed> {
        self.state = State::Idle;
        self.skip = false;
        self.buf = Vec::new();
        (h.on_message_complete() == Flow::Stop).then_some(Feed::Stopped { consumed: pos })
    }

    /// One step of the chunked-body state machine.
    fn chunked(
        &mut self,
        c: Chunk,
        input: &[u8],
        pos: &mut usize,
        h: &mut dyn RequestHandler,
    ) -> Result<Option<Feed>, HttpError> {
        let b = input[*pos];
        let next = match c {
            Chunk::Size { n, digits } => {
                let v = match b {
                    b'0'..=b'9' => Some(b - b'0'),
                    b'a'..=b'f' => Some(b - b'a' + 10),
                    b'A'..=b'F' => Some(b - b'A' + 10),
                    _ => None,
                };
                *pos += 1;
                match v {
                    Some(v) => {
                        if digits >= 16 {
                            return Err(HttpError::bad("chunk size too large"));
                        }
                        Chunk::Size {
                            n: (n << 4) | v as u64,
                            digits: digits + 1,
                        }
                    }
                    None if digits == 0 => return Err(HttpError::bad("invalid chunk size")),
                    None => match b {
                        b'\r' => Chunk::SizeLf { n },
                        b';' | b' ' | b'\t' => Chunk::Ext { n, len: 1 },
                        _ => return Err(HttpError::bad("invalid chunk size")),
                    },
                }
            }
            Chunk::Ext { n, len } => {
                *pos += 1;
                match b {
                    b'\r' => Chunk::SizeLf { n },
                    b'\n' => return Err(HttpError::bad("bare LF in chunk size line")),
                    _ if b < 0x20 && b != b'\t' || b == 0x7f => {
                        return Err(HttpError::bad("control character in chunk extension"))
                    }
                    _ if len >= self.limits.max_chunk_ext => {
                        return Err(HttpError::bad("chunk extension too long"))
                    }
                    _ => Chunk::Ext { n, len: len + 1 },
                }
            }
            Chunk::SizeLf { n } => {
                if b != b'\n' {
                    return Err(HttpError::bad("chunk size line not ended by CRLF"));
                }
                *pos += 1;
                h.on_chunk_header(n);
                if n == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data { left: n }
                }
            }
            Chunk::Data { left } => {
                let n = (left.min((input.len() - *pos) as u64)) as usize;
                let data = &input[*pos..*pos + n];
                *pos += n;
                let left = left - n as u64;
                self.state = State::Chunked(if left == 0 {
                    Chunk::DataCr
                } else {
                    Chunk::Data { left }
                });
                if !self.skip && h.on_body(data) == Flow::Stop {
                    return Ok(Some(Feed::Stopped { consumed: *pos }));
                }
                return Ok(None);
            }
            Chunk::DataCr => {
                if b != b'\r' {
                    return Err(HttpError::bad("chunk data not followed by CRLF"));
                }
                *pos += 1;
                Chunk::DataLf
            }
            Chunk::DataLf => {
                if b != b'\n' {
                    return Err(HttpError::bad("chunk data not followed by CRLF"));
                }
                *pos += 1;
                h.on_chunk_complete();
                Chunk::Size { n: 0, digits: 0 }
            }
            Chunk::Trailers => return self.trailers(input, pos, h),
        };
        self.state = State::Chunked(next);
        Ok(None)
    }

    /// Collects the trailer section (bounded by `max_head`) up to its empty line, then reports
    /// its fields and completes the message.
    fn trailers(
        &mut self,
        input: &[u8],
        pos: &mut usize,
        h: &mut dyn RequestHandler,
    ) -> Result<Option<Feed>, HttpError> {
        // Copy byte by byte up to the end of the section: trailers are rare and short.
        while *pos < input.len() {
            let b = input[*pos];
            *pos += 1;
            self.buf.push(b);
            if self.buf.len() > self.limits.max_head {
                return Err(HttpError::new(431, "trailer section too large"));
            }
            if b != b'\n' {
                continue;
            }
            let done = self.buf == b"\r\n" || self.buf.ends_with(b"\r\n\r\n");
            if self.buf.ends_with(b"\n") && !self.buf.ends_with(b"\r\n") {
                return Err(HttpError::bad("bare LF in trailer section"));
            }
            if !done {
                continue;
            }
            let buf = std::mem::take(&mut self.buf);
            if buf.len() > 2 {
                // Trailers are rare: a heap array of initialised fields is fine here.
                let mut hdrs = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
                match httparse::parse_headers(&buf, &mut hdrs) {
                    Ok(httparse::Status::Complete((_, parsed))) => {
                        for f in parsed {
                            h.on_trailer(f.name, f.value);
                        }
                    }
                    Ok(httparse::Status::Partial) => {
                        return Err(HttpError::bad("malformed trailer section"))
                    }
                    Err(e) => return Err(http_error(e)),
                }
            }
            h.on_chunk_complete();
            return Ok(self.complete(*pos, h));
        }
        Ok(None)
    }
}

/// True when some LF in `head` is not preceded by CR.
fn has_bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
}

/// True when the request line's third field starts `HTTP/` and a digit: a version httparse
/// refuses is then an unsupported one (505); anything else is a malformed request line (400).
/// Only those six bytes decide: they are present whenever httparse reports a version error,
/// however little of the line has arrived (the `http_request` fuzz target found the answer
/// changing with the reads when the whole field decided).
fn names_an_http_version(data: &[u8]) -> bool {
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    // Exactly the third field: the version starts right after the target's single space (a
    // second space is already the error, and must not reach a later field).
    let v = line.split(|&b| b == b' ').nth(2).unwrap_or(&[]);
    matches!(v, [b'H', b'T', b'T', b'P', b'/', d, ..] if d.is_ascii_digit())
}

enum HeadStep {
    Done { used: usize, action: HeadAction },
    Partial,
}
