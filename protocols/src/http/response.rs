//! The response decoder (for clients): status line and fields on `httparse`, then the body
//! framed as RFC 9112 §6.3 says — no body for HEAD, 1xx, 204 and 304; chunked; Content-Length;
//! otherwise until the connection closes. The body framing is the request decoder's.

use super::head::{has_token, trim};
use super::request::{BodyHandler, Feed, Flow, HeadAction, Limits, RequestDecoder, RequestHandler};
use super::{BodyFraming, HttpError, RequestHead};
use std::collections::VecDeque;

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body (HEAD, 1xx, 204, 304, or Content-Length 0).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A response's status line and fields, borrowed for the handler call.
#[derive(Debug)]
pub struct ResponseHead<'a> {
    /// Status code.
    pub status: u16,
    /// Reason phrase as sent.
    pub reason: &'a str,
    /// Minor version.
    pub version: u8,
    /// Every field in order.
    pub headers: &'a [httparse::Header<'a>],
    /// How the body is delimited.
    pub framing: ResponseFraming,
    /// The connection can carry another request afterwards.
    pub keep_alive: bool,
}

impl<'a> ResponseHead<'a> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// The callbacks of a connection's responses; the body callbacks are [`BodyHandler`]'s.
pub trait ResponseHandler: BodyHandler {
    /// A response's first byte arrived.
    fn on_message_begin(&mut self) {}
    /// The status line and fields (interim 1xx responses too; those end here).
    fn on_head(&mut self, head: &ResponseHead<'_>) -> HeadAction;
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Head,
    Body,
    UntilClose,
    Upgraded,
    Failed(HttpError),
}

/// One connection's response stream. Call [`ResponseDecoder::expect`] for every request sent
/// (in order), [`ResponseDecoder::feed`] with what arrives, and [`ResponseDecoder::finish`]
/// when the server closes.
#[derive(Debug)]
pub struct ResponseDecoder {
    limits: Limits,
    state: State,
    /// A head split across reads.
    buf: Vec<u8>,
    /// Body framing (shared with the request decoder).
    body: RequestDecoder,
    /// Per request sent and not yet answered: whether it was HEAD.
    heads: VecDeque<bool>,
}

/// Forwards the body callbacks of the inner decoder; stops it at the end of each message so
/// that the next response head is parsed here.
struct Body<'h> {
    h: &'h mut dyn ResponseHandler,
    completed: bool,
}

impl RequestHandler for Body<'_> {
    fn on_head(&mut self, _: &RequestHead<'_>) -> HeadAction {
        HeadAction::Error // never called: bodies only
    }
}

impl BodyHandler for Body<'_> {
    fn on_chunk_header(&mut self, len: u64) {
        self.h.on_chunk_header(len);
    }
    fn on_body(&mut self, data: &[u8]) -> Flow {
        self.h.on_body(data)
    }
    fn on_chunk_complete(&mut self) {
        self.h.on_chunk_complete();
    }
    fn on_trailer(&mut self, name: &str, value: &[u8]) {
        self.h.on_trailer(name, value);
    }
    fn on_message_complete(&mut self) -> Flow {
        self.completed = true;
        let _ = self.h.on_message_complete();
        Flow::Stop
    }
}

impl ResponseDecoder {
    /// A decoder with these limits (head size and field count).
    pub fn new(limits: Limits) -> ResponseDecoder {
        ResponseDecoder {
            limits,
            state: State::Head,
            buf: Vec::new(),
            body: RequestDecoder::new(limits),
            heads: VecDeque::new(),
        }
    }

    /// Between responses: no head or body in progress (a connection's buffers can go).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.buf.is_empty()
    }

    /// A request was sent; `head` when its method was HEAD (its response has no body).
    pub fn expect(&mut self, head: bool) {
        self.heads.push_back(head);
    }

    /// Feeds `input`. After an `Err` the connection must be closed.
    pub fn feed(&mut self, input: &[u8], h: &mut dyn ResponseHandler) -> Result<Feed, HttpError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let r = self.run(input, h);
        if let Err(e) = &r {
            self.state = State::Failed(e.clone());
            self.buf = Vec::new();
        }
        r
    }

    /// The server closed the connection: completes a body read until close; an incomplete
    /// head or body is an error.
    pub fn finish(&mut self, h: &mut dyn ResponseHandler) -> Result<(), HttpError> {
        match self.state {
            State::UntilClose => {
                self.state = State::Head;
                let _ = h.on_message_complete();
                Ok(())
            }
            State::Head if self.buf.is_empty() => Ok(()),
            State::Upgraded => Ok(()),
            State::Failed(ref e) => Err(e.clone()),
            _ => Err(HttpError::bad("connection closed inside a response")),
        }
    }

    fn run(&mut self, input: &[u8], h: &mut dyn ResponseHandler) -> Result<Feed, HttpError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Failed(ref e) => return Err(e.clone()),
                State::Upgraded => return Ok(Feed::Upgraded { consumed: pos }),
                State::UntilClose => {
                    let data = &input[pos..];
                    pos = input.len();
                    if h.on_body(data) == Flow::Stop {
                        return Ok(Feed::Stopped { consumed: pos });
                    }
                }
                State::Body => {
                    let mut b = Body {
                        h,
                        completed: false,
                    };
                    let fed = self.body.feed(&input[pos..], &mut b)?;
                    let completed = b.completed;
                    match fed {
                        Feed::Stopped { consumed } => {
                            pos += consumed;
                            if !completed {
                                return Ok(Feed::Stopped { consumed: pos });
                            }
                            self.state = State::Head;
                        }
                        _ => pos = input.len(),
                    }
                }
                State::Head => {
                    let old = self.buf.len();
                    let (used, action, framing, interim, switching) = if old == 0 {
                        if let Some(step) = self.head(&input[pos..], h)? {
                            step
                        } else {
                            if input.len() - pos > self.limits.max_head {
                                return Err(HttpError::new(431, "response head too large"));
                            }
                            self.buf.extend_from_slice(&input[pos..]);
                            return Ok(Feed::Consumed);
                        }
                    } else {
                        let room = self.limits.max_head.saturating_add(1).saturating_sub(old);
                        let take = room.min(input.len() - pos);
                        self.buf.extend_from_slice(&input[pos..pos + take]);
                        let buf = std::mem::take(&mut self.buf);
                        match self.head(&buf, h)? {
                            // The head ended `used - old` bytes into this input.
                            Some((used, a, f, i, s)) => (used - old, a, f, i, s),
                            None => {
                                if buf.len() > self.limits.max_head {
                                    return Err(HttpError::new(431, "response head too large"));
                                }
                                self.buf = buf;
                                return Ok(Feed::Consumed);
                            }
                        }
                    };
                    pos += used;
                    if action == HeadAction::Error {
                        return Ok(Feed::Stopped { consumed: pos });
                    }
                    if switching || action == HeadAction::Upgrade {
                        self.state = State::Upgraded;
                        return Ok(Feed::Upgraded { consumed: pos });
                    }
                    if interim {
                        continue; // 1xx: the final response is still to come
                    }
                    self.heads.pop_front();
                    let skip = action == HeadAction::SkipBody;
                    match framing {
                        ResponseFraming::None => {
                            if h.on_message_complete() == Flow::Stop {
                                return Ok(Feed::Stopped { consumed: pos });
                            }
                        }
                        ResponseFraming::Length(n) => {
                            self.body.start_body(BodyFraming::Length(n), skip);
                            self.state = State::Body;
                        }
                        ResponseFraming::Chunked => {
                            self.body.start_body(BodyFraming::Chunked, skip);
                            self.state = State::Body;
                        }
                        ResponseFraming::UntilClose => self.state = State::UntilClose,
                    }
                }
            }
        }
        Ok(match self.state {
            State::Upgraded => Feed::Upgraded { consumed: pos },
            _ => Feed::Consumed,
        })
    }

    /// Parses a head at the start of `data`: None when it does not end there; else
    /// (length, action, framing, interim 1xx, 101).
    #[allow(clippy::type_complexity)]
    fn head(
        &mut self,
        data: &[u8],
        h: &mut dyn ResponseHandler,
    ) -> Result<Option<(usize, HeadAction, ResponseFraming, bool, bool)>, HttpError> {
        // As for requests: the parser sees at most one byte past the head limit, so the
        // answer does not depend on the reads (found by the `http_response` fuzz target).
        let data = &data[..data.len().min(self.limits.max_head.saturating_add(1))];
        let mut fields = vec![httparse::EMPTY_HEADER; self.limits.max_headers.max(1)];
        let mut res = httparse::Response::new(&mut fields);
        let used = match res.parse(data) {
            Ok(httparse::Status::Complete(n)) if n > self.limits.max_head => {
                return Err(HttpError::new(431, "response head too large"))
            }
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HttpError::new(431, "too many header fields"))
            }
            Err(_) => return Err(HttpError::bad("malformed response head")),
        };
        let status = res.code.unwrap_or(0);
        let version = res.version.unwrap_or(1);
        let head_request = self.heads.front().copied().unwrap_or(false);
        let mut length: Option<u64> = None;
        let mut te: Option<&[u8]> = None;
        let mut close = false;
        let mut keep = false;
        for f in res.headers.iter() {
            if f.name.eq_ignore_ascii_case("content-length") {
                let v = trim(f.value);
                if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.len() > 19 {
                    return Err(HttpError::bad("invalid Content-Length in a response"));
                }
                let n: u64 = std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(HttpError::bad("invalid Content-Length in a response"))?;
                if length.is_some_and(|m| m != n) {
                    return Err(HttpError::bad("conflicting Content-Length in a response"));
                }
                length = Some(n);
            } else if f.name.eq_ignore_ascii_case("transfer-encoding") {
                te = Some(f.value);
            } else if f.name.eq_ignore_ascii_case("connection") {
                close |= has_token(f.value, "close");
                keep |= has_token(f.value, "keep-alive");
            }
        }
        let interim = (100..200).contains(&status) && status != 101;
        let framing =
            if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
                ResponseFraming::None
            } else if let Some(te) = te {
                let last = te
                    .split(|&b| b == b',')
                    .map(trim)
                    .next_back()
                    .unwrap_or(&[]);
                if last.eq_ignore_ascii_case(b"chunked") {
                    ResponseFraming::Chunked
                } else {
                    ResponseFraming::UntilClose
                }
            } else {
                match length {
                    Some(0) => ResponseFraming::None,
                    Some(n) => ResponseFraming::Length(n),
                    None => ResponseFraming::UntilClose,
                }
            };
        let keep_alive = framing != ResponseFraming::UntilClose
            && if version == 1 { !close } else { keep && !close };
        h.on_message_begin();
        let head = ResponseHead {
            status,
            reason: res.reason.unwrap_or(""),
            version,
            headers: &*res.headers,
            framing,
            keep_alive,
        };
        let action = h.on_head(&head);
        Ok(Some((used, action, framing, interim, status == 101)))
    }
}
