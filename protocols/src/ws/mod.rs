//! WebSocket (RFC 6455) with permessage-deflate (RFC 7692), sans-IO.
//!
//! - [`frame`]: the frame header writer, the incremental [`FrameDecoder`] (any split of the
//!   stream; holds at most 14 header bytes) and fast unmasking;
//! - [`Endpoint`]: one connection's receive side — every RFC 6455 §5 rule (masking by role,
//!   reserved bits and opcodes, control frames ≤ 125 bytes and unfragmented, continuation
//!   order), reassembly up to [`WsLimits`], text checked incrementally ([`Utf8Validator`]) so
//!   bad UTF-8 fails in the middle of a fragment, the close frame's code and reason, inflating;
//!   and the frame writers;
//! - [`handshake`]: `Sec-WebSocket-Accept`, the server's checks and `101`, the client's request
//!   and checks;
//! - [`deflate`]: permessage-deflate negotiation (context takeover, window bits) and the
//!   per-connection zlib state, which exists only while a message needs it unless context
//!   takeover is on.

pub mod deflate;
mod endpoint;
pub mod frame;
pub mod handshake;
mod utf8;

pub use deflate::{Deflate, DeflateConfig, DeflateParams, Role};
pub use endpoint::{
    valid_close_code, write_close, write_frame, CloseError, Endpoint, Message, WsHandler, WsLimits,
};
pub use frame::{opcode, FrameDecoder, FrameHeader};
pub use utf8::Utf8Validator;

#[cfg(test)]
mod tests;
