//! HP-Socket's Pack framing, as a sans-IO codec: no sockets, no clock; feed bytes, get whole
//! messages or an error.
//!
//! # Wire format
//! Every message travels behind a 4-byte header, a little-endian `u32`:
//!
//! ```text
//! header = (flag << 22) | body_len      flag: 10 bits (0..=0x3FF), body_len: 22 bits
//! ```
//!
//! A receiver configured with flag `F != 0` rejects any header whose flag differs from `F`
//! (flag 0 means "don't check"), and any body longer than its `max_pack_size` (default
//! 0x40000 = 256 KiB, at most 0x3FFFFF).
//!
//! Like HP-Socket, a receiver rejects an empty message (length 0) unless
//! [`PackConfig::allow_empty`] is set, and a sender refuses to send one: HP closes a connection
//! that receives one with `EMSGSIZE`, so an empty message would cut off a real HP peer.
//!
//! [`PackDecoder::feed`] delivers each complete body exactly once, whether it arrived one byte per
//! call or a hundred messages per call; bodies that lie whole inside the input are delivered
//! without a copy. Nothing partial is ever delivered.
//!
//! # Memory
//! A header's length is a peer's claim, not a fact: the decoder never allocates from it. A
//! partial body grows with the bytes that actually arrived (at most doubling, never past the
//! announced length), and a failed allocation is an error ([`PackError::OutOfMemory`]) that
//! closes one connection instead of aborting the process.

use std::fmt;

/// Largest flag value (10 bits).
pub const MAX_FLAG: u16 = 0x3FF;
/// Largest body length the header can carry (22 bits).
pub const MAX_PACK_SIZE_LIMIT: u32 = 0x3F_FFFF;
/// HP-Socket's default `MaxPackSize`.
pub const DEFAULT_MAX_PACK_SIZE: u32 = 0x4_0000;
/// Header length in bytes.
pub const HEADER_LEN: usize = 4;

/// errno reported in `on_close(Receive, …)` for a header with the wrong flag (`EBADMSG`, 74).
pub const ERRNO_BAD_FLAG: i32 = libc::EBADMSG;
/// errno reported in `on_close(Receive, …)` for a body longer than `max_pack_size`, or an empty
/// one when those are not allowed (`EMSGSIZE`, 90, as HP-Socket).
pub const ERRNO_TOO_LONG: i32 = libc::EMSGSIZE;
/// errno reported in `on_close(Receive, …)` when the memory for a partial message could not be
/// allocated (`ENOMEM`).
pub const ERRNO_NO_MEMORY: i32 = libc::ENOMEM;

/// Pack settings (HP-Socket's `PackHeaderFlag` and `MaxPackSize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackConfig {
    /// Header flag, 0..=0x3FF (default 0).
    pub flag: u16,
    /// Largest accepted (and sendable) body, 1..=0x3FFFFF (default 0x40000).
    pub max_pack_size: u32,
    /// Accept and send empty messages (default false, as HP-Socket: an empty message received
    /// closes the connection with `EMSGSIZE`, and sending one is refused). Turn it on only
    /// between shardnet peers.
    pub allow_empty: bool,
}

impl Default for PackConfig {
    fn default() -> Self {
        PackConfig::new(0, DEFAULT_MAX_PACK_SIZE)
    }
}

impl PackConfig {
    /// Flag and maximum body size; empty messages refused (HP-Socket's behaviour).
    pub const fn new(flag: u16, max_pack_size: u32) -> PackConfig {
        PackConfig {
            flag,
            max_pack_size,
            allow_empty: false,
        }
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.flag > MAX_FLAG {
            return Err(format!("pack flag {:#x} > {MAX_FLAG:#x}", self.flag));
        }
        if self.max_pack_size == 0 || self.max_pack_size > MAX_PACK_SIZE_LIMIT {
            return Err(format!(
                "max_pack_size {:#x} not in 1..={MAX_PACK_SIZE_LIMIT:#x}",
                self.max_pack_size
            ));
        }
        Ok(())
    }

    /// The header for a body of `len` bytes, or `None` when `len` exceeds `max_pack_size` or is
    /// 0 without [`Self::allow_empty`].
    pub fn header(&self, len: usize) -> Option<[u8; 4]> {
        (len <= self.max_pack_size as usize && (len > 0 || self.allow_empty))
            .then(|| encode_header(self.flag, len as u32))
    }
}

/// Encodes a header. `flag` is masked to 10 bits and `len` to 22 bits.
pub fn encode_header(flag: u16, len: u32) -> [u8; 4] {
    ((((flag & MAX_FLAG) as u32) << 22) | (len & MAX_PACK_SIZE_LIMIT)).to_le_bytes()
}

/// Splits a header into (flag, body_len).
pub fn decode_header(h: [u8; 4]) -> (u16, u32) {
    let v = u32::from_le_bytes(h);
    ((v >> 22) as u16, v & MAX_PACK_SIZE_LIMIT)
}

/// Why a stream was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackError {
    /// The header's flag differs from the configured one.
    BadFlag {
        /// Configured flag.
        expected: u16,
        /// Flag in the header.
        got: u16,
    },
    /// The header announces a body longer than `max_pack_size`.
    TooLong {
        /// Announced length.
        len: u32,
        /// Configured maximum.
        max: u32,
    },
    /// The header announces an empty body and empty messages are not allowed.
    Empty,
    /// Memory for the partial body could not be allocated.
    OutOfMemory {
        /// Bytes that were asked for.
        wanted: usize,
    },
}

impl PackError {
    /// The errno reported in `on_close(Receive, errno)`.
    pub fn errno(&self) -> i32 {
        match self {
            PackError::BadFlag { .. } => ERRNO_BAD_FLAG,
            PackError::TooLong { .. } | PackError::Empty => ERRNO_TOO_LONG,
            PackError::OutOfMemory { .. } => ERRNO_NO_MEMORY,
        }
    }
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackError::BadFlag { expected, got } => {
                write!(f, "pack header flag {got:#x}, expected {expected:#x}")
            }
            PackError::TooLong { len, max } => {
                write!(f, "pack body of {len} bytes exceeds max_pack_size {max}")
            }
            PackError::Empty => write!(f, "empty pack message (not allowed)"),
            PackError::OutOfMemory { wanted } => {
                write!(
                    f,
                    "cannot allocate {wanted} bytes for a partial pack message"
                )
            }
        }
    }
}

impl std::error::Error for PackError {}

/// What the message callback tells the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep delivering.
    Continue,
    /// Stop now (the connection is closing); the rest of the input is discarded.
    Stop,
}

/// Reassembles messages from a byte stream. Holds only the partial message (if any): an idle
/// decoder owns no heap memory.
#[derive(Debug, Default)]
pub struct PackDecoder {
    header: [u8; 4],
    header_len: u8,
    /// Announced body length of the partial message (valid once the header is complete).
    body_len: u32,
    body: Vec<u8>,
}

impl PackDecoder {
    /// An empty decoder.
    pub fn new() -> PackDecoder {
        PackDecoder::default()
    }

    /// True when no partial message is held.
    pub fn is_idle(&self) -> bool {
        self.header_len == 0
    }

    /// Bytes of the partial message held (header included).
    pub fn buffered(&self) -> usize {
        self.header_len as usize + self.body.len()
    }

    fn check(cfg: &PackConfig, h: [u8; 4]) -> Result<u32, PackError> {
        let (flag, len) = decode_header(h);
        if cfg.flag != 0 && flag != cfg.flag {
            return Err(PackError::BadFlag {
                expected: cfg.flag,
                got: flag,
            });
        }
        if len > cfg.max_pack_size {
            return Err(PackError::TooLong {
                len,
                max: cfg.max_pack_size,
            });
        }
        if len == 0 && !cfg.allow_empty {
            return Err(PackError::Empty);
        }
        Ok(len)
    }

    /// Appends `bytes` to the partial body, growing it from what arrived, never from the
    /// announced length alone: capacity at most doubles and never passes `body_len`.
    fn append(&mut self, bytes: &[u8]) -> Result<(), PackError> {
        let need = self.body.len() + bytes.len();
        if need > self.body.capacity() {
            let target = need
                .max(self.body.capacity() * 2)
                .min(self.body_len as usize)
                .max(need);
            self.body
                .try_reserve_exact(target - self.body.len())
                .map_err(|_| PackError::OutOfMemory { wanted: target })?;
        }
        self.body.extend_from_slice(bytes);
        Ok(())
    }

    /// Feeds `input`; calls `on_msg` with each complete body in order. Stops at the first bad
    /// header with an error (the decoder is then poisoned: reset it or drop the connection).
    pub fn feed(
        &mut self,
        cfg: &PackConfig,
        mut input: &[u8],
        on_msg: &mut dyn FnMut(&[u8]) -> Flow,
    ) -> Result<Flow, PackError> {
        // Finish a partial message first.
        if self.header_len > 0 {
            while self.header_len < 4 {
                let Some((&b, rest)) = input.split_first() else {
                    return Ok(Flow::Continue);
                };
                self.header[self.header_len as usize] = b;
                self.header_len += 1;
                input = rest;
                if self.header_len == 4 {
                    self.body_len = Self::check(cfg, self.header)?;
                }
            }
            let need = self.body_len as usize - self.body.len();
            let take = need.min(input.len());
            self.append(&input[..take])?;
            input = &input[take..];
            if self.body.len() < self.body_len as usize {
                return Ok(Flow::Continue);
            }
            let body = std::mem::take(&mut self.body);
            self.header_len = 0;
            if on_msg(&body) == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        // Whole messages straight from the input, without copying.
        while input.len() >= HEADER_LEN {
            let h = [input[0], input[1], input[2], input[3]];
            let len = Self::check(cfg, h)? as usize;
            if input.len() - HEADER_LEN < len {
                break;
            }
            let (msg, rest) = input[HEADER_LEN..].split_at(len);
            input = rest;
            if on_msg(msg) == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        // Keep the tail.
        if !input.is_empty() {
            let n = input.len().min(4);
            self.header[..n].copy_from_slice(&input[..n]);
            self.header_len = n as u8;
            if n == 4 {
                self.body_len = Self::check(cfg, self.header)?;
                self.append(&input[4..])?;
            }
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(cfg: &PackConfig, chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, PackError> {
        let mut d = PackDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(cfg, c, &mut |m| {
                out.push(m.to_vec());
                Flow::Continue
            })?;
        }
        assert!(d.is_idle(), "stream ended on a message boundary");
        Ok(out)
    }

    fn encode(cfg: &PackConfig, body: &[u8]) -> Vec<u8> {
        let mut v = cfg.header(body.len()).unwrap().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn golden_headers() {
        // flag 0x169, body "hello": (0x169 << 22) | 5 = 0x5A40_0005, little-endian.
        assert_eq!(encode_header(0x169, 5), [0x05, 0x00, 0x40, 0x5A]);
        let cfg = PackConfig::new(0x169, DEFAULT_MAX_PACK_SIZE);
        assert_eq!(encode(&cfg, b"hello"), b"\x05\x00\x40\x5Ahello");
        assert_eq!(encode_header(0, 0), [0, 0, 0, 0]);
        assert_eq!(encode_header(0x3FF, 0x3F_FFFF), [0xFF; 4]);
        assert_eq!(encode_header(0, 0x4_0000), [0x00, 0x00, 0x04, 0x00]);
        assert_eq!(decode_header([0x05, 0x00, 0x40, 0x5A]), (0x169, 5));
        assert_eq!(cfg.header(0x4_0001), None);
    }

    #[test]
    fn one_byte_at_a_time_and_many_per_read() {
        let cfg = PackConfig::new(0x169, 1000);
        let msgs: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 1 + i * 7 % 300]).collect();
        let stream: Vec<u8> = msgs.iter().flat_map(|m| encode(&cfg, m)).collect();
        assert_eq!(collect(&cfg, &[&stream]).unwrap(), msgs);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(collect(&cfg, &bytes).unwrap(), msgs);
    }

    #[test]
    fn zero_length_messages_only_when_allowed() {
        let cfg = PackConfig {
            allow_empty: true,
            ..PackConfig::default()
        };
        let stream: Vec<u8> = (0..10_000).flat_map(|_| encode(&cfg, b"")).collect();
        let got = collect(&cfg, &[&stream]).unwrap();
        assert_eq!(got.len(), 10_000);
        assert!(got.iter().all(|m| m.is_empty()));
        // HP-Socket's behaviour by default: an empty message is neither sent nor accepted.
        let hp = PackConfig::default();
        assert_eq!(hp.header(0), None);
        let mut s = encode(&hp, b"x");
        s.extend_from_slice(&encode_header(0, 0));
        let mut got = Vec::new();
        let r = PackDecoder::new().feed(&hp, &s, &mut |m| {
            got.push(m.to_vec());
            Flow::Continue
        });
        assert_eq!(r, Err(PackError::Empty));
        assert_eq!(PackError::Empty.errno(), libc::EMSGSIZE);
        assert_eq!(got, vec![b"x".to_vec()]);
        // Split header: rejected at its 4th byte.
        let mut d = PackDecoder::new();
        let mut cb = |_: &[u8]| Flow::Continue;
        assert!(d.feed(&hp, &[0, 0], &mut cb).is_ok());
        assert_eq!(d.feed(&hp, &[0, 0], &mut cb), Err(PackError::Empty));
    }

    /// A header's length is a claim: the decoder holds memory for what arrived, not for what
    /// the peer announced (a 4 MiB claim followed by 10 bytes must not cost 4 MiB).
    #[test]
    fn claimed_length_reserves_nothing() {
        let cfg = PackConfig::new(0, MAX_PACK_SIZE_LIMIT);
        let mut cb = |_: &[u8]| Flow::Continue;
        let mut h = encode_header(0, MAX_PACK_SIZE_LIMIT).to_vec();
        h.extend_from_slice(&[7; 10]);
        // Whole header in one read, and split so the body starts on a later read.
        let mut whole = PackDecoder::new();
        whole.feed(&cfg, &h, &mut cb).unwrap();
        let mut split = PackDecoder::new();
        split.feed(&cfg, &h[..3], &mut cb).unwrap();
        split.feed(&cfg, &h[3..], &mut cb).unwrap();
        for d in [&whole, &split] {
            assert_eq!(d.buffered(), 14);
            assert!(d.body.capacity() <= 64, "capacity {}", d.body.capacity());
        }
        // Growth follows the bytes (at most doubling) and ends exactly at the body length.
        let mut d = PackDecoder::new();
        d.feed(&cfg, &encode_header(0, 100_000), &mut cb).unwrap();
        let mut delivered = 0;
        for i in 0..100 {
            d.feed(&cfg, &[i as u8; 1000], &mut |m| {
                delivered = m.len();
                Flow::Continue
            })
            .unwrap();
            if i < 99 {
                assert!(d.body.capacity() <= 2 * d.body.len().max(1000));
                assert!(d.body.capacity() <= 100_000);
            }
        }
        assert_eq!(delivered, 100_000);
        assert!(d.is_idle());
    }

    #[test]
    fn bad_headers() {
        let cfg = PackConfig::new(0x169, DEFAULT_MAX_PACK_SIZE);
        let wrong = encode_header(0x168, 5);
        assert_eq!(
            collect(&cfg, &[&wrong]).unwrap_err(),
            PackError::BadFlag {
                expected: 0x169,
                got: 0x168
            }
        );
        let too_long = encode_header(0x169, DEFAULT_MAX_PACK_SIZE + 1);
        assert_eq!(
            collect(&cfg, &[&too_long]).unwrap_err().errno(),
            ERRNO_TOO_LONG
        );
        let def = PackConfig::default();
        // length 0x3FFFFF with the default max, split across reads: rejected at the 4th byte.
        let h = encode_header(0, MAX_PACK_SIZE_LIMIT);
        let mut d = PackDecoder::new();
        let mut n = 0;
        let mut cb = |_: &[u8]| {
            n += 1;
            Flow::Continue
        };
        assert!(d.feed(&def, &h[..2], &mut cb).is_ok());
        assert!(d.feed(&def, &h[2..3], &mut cb).is_ok());
        assert!(matches!(
            d.feed(&def, &h[3..], &mut cb),
            Err(PackError::TooLong {
                len: 0x3F_FFFF,
                max: 0x4_0000
            })
        ));
        assert_eq!(n, 0, "nothing partial delivered");
        // A good message before the bad header is delivered; nothing after it.
        let mut s = encode(&cfg, b"ok");
        s.extend_from_slice(&wrong);
        s.extend_from_slice(&encode(&cfg, b"never"));
        let mut got = Vec::new();
        let r = PackDecoder::new().feed(&cfg, &s, &mut |m| {
            got.push(m.to_vec());
            Flow::Continue
        });
        assert!(r.is_err());
        assert_eq!(got, vec![b"ok".to_vec()]);
    }

    #[test]
    fn flag_zero_does_not_check() {
        let any = PackConfig::new(0x2A, 100);
        let s = encode(&any, b"abc");
        assert_eq!(
            collect(&PackConfig::default(), &[&s]).unwrap(),
            vec![b"abc".to_vec()]
        );
    }

    #[test]
    fn stop_discards_the_rest() {
        let cfg = PackConfig::default();
        let s: Vec<u8> = (0..5).flat_map(|i| encode(&cfg, &[i])).collect();
        let mut seen = 0;
        let r = PackDecoder::new().feed(&cfg, &s, &mut |_| {
            seen += 1;
            if seen == 2 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        });
        assert_eq!(r, Ok(Flow::Stop));
        assert_eq!(seen, 2);
    }

    /// Property: any split of any message stream yields the same messages.
    #[test]
    fn random_splits_round_trip() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n.max(1)
        };
        for round in 0..300 {
            let cfg = PackConfig {
                allow_empty: true,
                ..PackConfig::new(rnd(0x400) as u16, 1 + rnd(5000) as u32)
            };
            let msgs: Vec<Vec<u8>> = (0..rnd(40))
                .map(|_| {
                    let len = rnd(cfg.max_pack_size as u64 + 1) as usize;
                    (0..len).map(|i| (i as u64 ^ round) as u8).collect()
                })
                .collect();
            let stream: Vec<u8> = msgs.iter().flat_map(|m| encode(&cfg, m)).collect();
            let mut chunks = Vec::new();
            let mut rest: &[u8] = &stream;
            while !rest.is_empty() {
                let n = 1 + rnd(rest.len() as u64 + 3) as usize;
                let (a, b) = rest.split_at(n.min(rest.len()));
                chunks.push(a);
                rest = b;
            }
            assert_eq!(collect(&cfg, &chunks).unwrap(), msgs, "round {round}");
        }
    }

    #[test]
    fn idle_decoder_holds_nothing() {
        let cfg = PackConfig::default();
        let mut d = PackDecoder::new();
        d.feed(&cfg, &encode(&cfg, &[1; 100])[..50], &mut |_| {
            Flow::Continue
        })
        .unwrap();
        assert_eq!(d.buffered(), 50);
        d.feed(&cfg, &encode(&cfg, &[1; 100])[50..], &mut |_| {
            Flow::Continue
        })
        .unwrap();
        assert!(d.is_idle());
        assert_eq!(d.body.capacity(), 0);
    }
}
