//! permessage-deflate (RFC 7692): negotiation, and per-message compression on `flate2`
//! (zlib-rs backend: raw deflate with any window size).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

/// What an endpoint is willing to negotiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Compression level 0..=9 (default 1: fast; WebSocket messages are small).
    pub level: u32,
    /// Ask the peer to reset its compressor after each message (saves the peer's memory).
    pub request_no_context_takeover: bool,
    /// Messages shorter than this are sent uncompressed (default 64 bytes).
    pub min_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            level: 1,
            request_no_context_takeover: false,
            min_size: 64,
        }
    }
}

/// Negotiated parameters, seen from this endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// LZ77 window bits of the server's compressor (8..=15).
    pub server_max_window_bits: u8,
    /// LZ77 window bits of the client's compressor (8..=15).
    pub client_max_window_bits: u8,
    /// Echo `client_max_window_bits` in the answer (the client offered it with a value).
    echo_client_bits: bool,
    /// Echo `server_max_window_bits` (the client asked for it).
    echo_server_bits: bool,
    /// Compression level for our side.
    pub level: u32,
    /// Our messages shorter than this go uncompressed.
    pub min_size: usize,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value a server answers with.
    pub fn response(&self) -> String {
        let mut s = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.echo_server_bits {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.echo_client_bits {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        s
    }
}

/// An extension's parameters: name and optional value.
type Params<'a> = Vec<(&'a str, Option<&'a str>)>;

/// One extension offer: its name and parameters, or None when malformed.
fn params(offer: &str) -> Option<(&str, Params<'_>)> {
    let mut parts = offer.split(';').map(str::trim);
    let name = parts.next()?;
    let mut ps = Vec::new();
    for p in parts {
        if p.is_empty() {
            return None;
        }
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
            None => (p, None),
        };
        if ps
            .iter()
            .any(|(n, _): &(&str, _)| n.eq_ignore_ascii_case(k))
        {
            return None; // a parameter given twice
        }
        ps.push((k, v));
    }
    Some((name, ps))
}

fn bits(v: Option<&str>) -> Option<u8> {
    let v = v?;
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

impl DeflateConfig {
    /// Server side: the first acceptable permessage-deflate offer in a
    /// `Sec-WebSocket-Extensions` value (offers are comma-separated, in preference order).
    pub fn accept_offer(&self, value: &str) -> Option<DeflateParams> {
        'offers: for offer in value.split(',') {
            let Some((name, ps)) = params(offer) else {
                continue;
            };
            if !name.eq_ignore_ascii_case("permessage-deflate") {
                continue;
            }
            let mut p = DeflateParams {
                server_no_context_takeover: self.request_no_context_takeover,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
                echo_client_bits: false,
                echo_server_bits: false,
                level: self.level,
                min_size: self.min_size,
            };
            for (k, v) in ps {
                match k.to_ascii_lowercase().as_str() {
                    "server_no_context_takeover" if v.is_none() => {
                        p.server_no_context_takeover = true
                    }
                    "client_no_context_takeover" if v.is_none() => {
                        p.client_no_context_takeover = true
                    }
                    "server_max_window_bits" => match bits(v) {
                        Some(n) => {
                            p.server_max_window_bits = n;
                            p.echo_server_bits = true;
                        }
                        None => continue 'offers,
                    },
                    "client_max_window_bits" => match v {
                        None => {} // the client can take a limit; we set none
                        Some(_) => match bits(v) {
                            Some(n) => {
                                p.client_max_window_bits = n;
                                p.echo_client_bits = true;
                            }
                            None => continue 'offers,
                        },
                    },
                    _ => continue 'offers, // unknown or malformed: decline this offer
                }
            }
            return Some(p);
        }
        None
    }

    /// Client side: the offer to send.
    pub fn offer(&self) -> String {
        let mut s = String::from("permessage-deflate; client_max_window_bits");
        if self.request_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        s
    }

    /// Client side: checks the server's answer to [`DeflateConfig::offer`].
    pub fn check_response(&self, value: &str) -> Result<DeflateParams, &'static str> {
        let (name, ps) = params(value.trim()).ok_or("malformed extension answer")?;
        if !name.eq_ignore_ascii_case("permessage-deflate") || value.contains(',') {
            return Err("an extension the client did not offer");
        }
        let mut p = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            echo_client_bits: false,
            echo_server_bits: false,
            level: self.level,
            min_size: self.min_size,
        };
        for (k, v) in ps {
            match k.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" if v.is_none() => p.server_no_context_takeover = true,
                "client_no_context_takeover" if v.is_none() => p.client_no_context_takeover = true,
                "server_max_window_bits" => {
                    p.server_max_window_bits = bits(v).ok_or("bad server_max_window_bits")?
                }
                "client_max_window_bits" => {
                    p.client_max_window_bits = bits(v).ok_or("bad client_max_window_bits")?
                }
                _ => return Err("unknown permessage-deflate parameter"),
            }
        }
        if self.request_no_context_takeover && !p.server_no_context_takeover {
            // Allowed: the server may keep its context; we only asked.
        }
        Ok(p)
    }
}

/// Which side of the connection this endpoint is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepts connections; receives masked frames.
    Server,
    /// Connects; masks its frames.
    Client,
}

/// One connection's compression state. The zlib streams exist only while in use: with no
/// context takeover they are dropped after each message, so an idle connection holds none.
pub struct Deflate {
    params: DeflateParams,
    role: Role,
    comp: Option<Box<Compress>>,
    decomp: Option<Box<Decompress>>,
    /// The message being inflated already ended its deflate stream (a final block): its
    /// remaining bytes are ignored, as zlib leaves them unused.
    ended: bool,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("params", &self.params)
            .field("role", &self.role)
            .finish()
    }
}

thread_local! {
    /// zlib streams released by connections without context takeover, reset, and reused by
    /// the next message on this thread: a compressor (keyed by level and window) or an inflater
    /// is ~300 KB of state, and allocating one per message per connection both costs time and
    /// scatters the heap (idle connections ended up pinning ~5 KB each).
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
}

#[derive(Default)]
struct Spare {
    comp: Vec<(u32, u8, Box<Compress>)>,
    #[allow(clippy::vec_box)] // the boxes move in and out of connections whole
    decomp: Vec<Box<Decompress>>,
}

/// Spare streams kept per thread and kind.
const SPARE_MAX: usize = 4;

fn spare_comp(level: u32, bits: u8) -> Option<Box<Compress>> {
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        let i = s.comp.iter().position(|c| c.0 == level && c.1 == bits)?;
        Some(s.comp.swap_remove(i).2)
    })
}

fn release_comp(level: u32, bits: u8, mut c: Box<Compress>) {
    c.reset();
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.comp.len() < SPARE_MAX {
            s.comp.push((level, bits, c));
        }
    });
}

fn spare_decomp() -> Option<Box<Decompress>> {
    SPARE.with(|s| s.borrow_mut().decomp.pop())
}

fn release_decomp(mut d: Box<Decompress>) {
    d.reset(false);
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.decomp.len() < SPARE_MAX {
            s.decomp.push(d);
        }
    });
}

/// The 4 bytes a sync flush ends with, removed from each message (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

impl Deflate {
    /// State for `params`, seen from `role`.
    pub fn new(params: DeflateParams, role: Role) -> Deflate {
        Deflate {
            params,
            role,
            comp: None,
            decomp: None,
            ended: false,
        }
    }

    /// The negotiated parameters.
    pub fn params(&self) -> &DeflateParams {
        &self.params
    }

    fn our_bits(&self) -> u8 {
        match self.role {
            Role::Server => self.params.server_max_window_bits,
            Role::Client => self.params.client_max_window_bits,
        }
    }

    fn our_reset(&self) -> bool {
        match self.role {
            Role::Server => self.params.server_no_context_takeover,
            Role::Client => self.params.client_no_context_takeover,
        }
    }

    fn peer_reset(&self) -> bool {
        match self.role {
            Role::Server => self.params.client_no_context_takeover,
            Role::Client => self.params.server_no_context_takeover,
        }
    }

    /// Whether a message of `len` bytes is worth compressing.
    ///
    /// Never with an 8-bit window: zlib's raw deflate cannot make one (it widens 8 to 9,
    /// whose back-references a peer inflating with 256 bytes would reject), so under that
    /// limit this side sends its messages uncompressed, which RFC 7692 allows per message.
    pub fn worth(&self, len: usize) -> bool {
        len >= self.params.min_size && self.our_bits() > 8
    }

    /// Compresses one whole message into `out` (appended), without the sync-flush tail.
    pub fn compress(&mut self, msg: &[u8], out: &mut Vec<u8>) {
        // `worth` keeps 8-bit windows away (zlib cannot honour them); max(9) only guards
        // a caller that compresses anyway from zlib's refusal.
        let bits = self.our_bits().max(9);
        let level = self.params.level;
        let c = self.comp.get_or_insert_with(|| {
            spare_comp(level, bits).unwrap_or_else(|| {
                Box::new(Compress::new_with_window_bits(
                    Compression::new(level),
                    false,
                    bits,
                ))
            })
        });
        let start = out.len();
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(msg.len() / 2 + 128);
            }
            let i0 = c.total_in();
            if c.compress_vec(&msg[consumed..], out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            consumed += (c.total_in() - i0) as usize;
            // The flush is complete when the output did not fill the room it had.
            if consumed == msg.len() && out.capacity() > out.len() {
                break;
            }
        }
        if out.len() - start >= 4 && out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if out.len() == start {
            out.push(0); // an empty deflate block
        }
        if self.our_reset() {
            if let Some(c) = self.comp.take() {
                release_comp(level, bits, c);
            }
        }
    }

    /// Inflates `data` (part of a compressed message; `last` for its final part, which gets the
    /// removed tail back), calling `out` with the output in pieces. `budget` is how many more
    /// bytes the message may grow to; Err(()) when it would grow beyond (or the data is not
    /// deflate).
    pub fn decompress(
        &mut self,
        data: &[u8],
        last: bool,
        budget: u64,
        out: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<u64, DecompressError> {
        if self.ended {
            // Bytes after a final block, whatever the reads (found by the `ws_endpoint` fuzz
            // target: in one read they were ignored, in a later read they failed to inflate).
            self.ended = !last;
            return Ok(0);
        }
        let d = self.decomp.get_or_insert_with(|| {
            spare_decomp().unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, 15)))
        });
        let mut produced = 0u64;
        let mut buf = [0u8; 16 << 10];
        let parts: [&[u8]; 2] = [data, if last { &TAIL } else { &[] }];
        for part in parts {
            let mut input = part;
            loop {
                let (i0, o0) = (d.total_in(), d.total_out());
                let st = d
                    .decompress(input, &mut buf, FlushDecompress::Sync)
                    .map_err(|_| DecompressError::Corrupt)?;
                let used = (d.total_in() - i0) as usize;
                let made = (d.total_out() - o0) as usize;
                input = &input[used..];
                if made > 0 {
                    produced += made as u64;
                    if produced > budget {
                        return Err(DecompressError::TooBig);
                    }
                    if !out(&buf[..made]) {
                        return Err(DecompressError::Stopped);
                    }
                }
                if st == Status::StreamEnd {
                    // A final deflate block ends the stream: later messages need a new one.
                    if let Some(d) = self.decomp.take() {
                        release_decomp(d);
                    }
                    self.ended = !last;
                    return Ok(produced);
                }
                if input.is_empty() && made < buf.len() {
                    break;
                }
                if used == 0 && made == 0 {
                    break;
                }
            }
        }
        if last && self.peer_reset() {
            if let Some(d) = self.decomp.take() {
                release_decomp(d);
            }
        }
        Ok(produced)
    }

    /// Holds zlib state now (context takeover between messages).
    pub fn holds_state(&self) -> bool {
        self.comp.is_some() || self.decomp.is_some()
    }
}

/// Why inflating failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// Not valid deflate data.
    Corrupt,
    /// The message grew past its limit.
    TooBig,
    /// The output handler refused more.
    Stopped,
}
