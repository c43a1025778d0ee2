//! HTTP/1.1 (RFC 9112), sans-IO.
//!
//! # Overview
//! A client feeds each connection's bytes to a [`ResponseDecoder`] (told the method of each
//! request it sent, so that HEAD answers have no body), which frames bodies as RFC 9112 §6.3
//! says, including read-until-close. A server feeds each connection's bytes to a
//! [`RequestDecoder`]; it calls a
//! [`RequestHandler`] with the validated head of each request ([`RequestHead`]), the body
//! (de-chunked, streamed: never buffered whole), chunk boundaries, trailers and the end of the
//! message. Requests that break RFC 9112 never reach the handler as requests: the decoder
//! returns an [`HttpError`] that carries the status a server answers before closing (400, 413,
//! 414, 431, 501, 505). The writers ([`write_response_head`], [`write_chunk`],
//! [`write_last_chunk`]) build what goes back.
//!
//! # Memory
//! A decoder between requests owns no buffer: a head that arrives whole inside one read is
//! parsed in place, and only a head split across reads is copied — never more than
//! [`Limits::max_head`] bytes. Lengths a peer announces (Content-Length, chunk sizes) are
//! counted down as bytes arrive, never allocated.
//!
//! # What is refused (and answered)
//! | request | status |
//! |---|---|
//! | bad request line, method, target characters, header name, obs-fold, whitespace before a colon, control characters in a field | 400 |
//! | HTTP/1.1 without Host, or with several | 400 |
//! | Content-Length with Transfer-Encoding; invalid or conflicting Content-Length | 400 |
//! | Transfer-Encoding whose last coding is not `chunked`, or in an HTTP/1.0 request | 400 |
//! | a transfer coding other than `chunked` before it (e.g. `gzip, chunked`) | 501 |
//! | bad chunk size (not hex, more than 16 digits), chunk data not followed by CRLF | 400 |
//! | request line longer than the head limit | 414 |
//! | head longer than [`Limits::max_head`], more than [`Limits::max_headers`] fields | 431 |
//! | a version other than HTTP/1.0 or HTTP/1.1 | 505 |

mod error;
mod head;
mod request;
mod response;
mod write;

pub use error::HttpError;
pub use head::{BodyFraming, RequestHead, UpgradeKind, UrlParts};
pub use request::{BodyHandler, Feed, Flow, HeadAction, Limits, RequestDecoder, RequestHandler};
pub use response::{ResponseDecoder, ResponseFraming, ResponseHandler, ResponseHead};
pub use write::{
    reason_phrase, write_chunk, write_last_chunk, write_request_head, write_response_head,
    WriteError,
};

#[cfg(test)]
mod tests;
