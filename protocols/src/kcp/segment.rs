//! The KCP segment header: 24 bytes, little-endian, as the reference `ikcp.c` writes it.
//!
//! ```text
//! 0      4     5     6       8      12     16     20     24
//! | conv | cmd | frg |  wnd  |  ts  |  sn  | una  | len  | data (len bytes) …
//! ```
//! One datagram carries one or more segments back to back.

/// Bytes of a segment header.
pub const OVERHEAD: usize = 24;

/// Segment commands.
pub mod cmd {
    /// Data.
    pub const PUSH: u8 = 81;
    /// Acknowledgement of one segment (`sn`, echoing its `ts`).
    pub const ACK: u8 = 82;
    /// Window probe: "tell me your window".
    pub const WASK: u8 = 83;
    /// Window announcement.
    pub const WINS: u8 = 84;
}

/// A decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Conversation id.
    pub conv: u32,
    /// One of [`cmd`].
    pub cmd: u8,
    /// Fragments of the message that follow this one (0 = last).
    pub frg: u8,
    /// The sender's free receive window, in segments.
    pub wnd: u16,
    /// Timestamp (sender's clock, ms); echoed in ACKs.
    pub ts: u32,
    /// Sequence number.
    pub sn: u32,
    /// The sender's next expected sequence number (everything below is acknowledged).
    pub una: u32,
    /// Length of the data that follows.
    pub len: u32,
}

impl Header {
    /// Appends the 24 header bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.conv.to_le_bytes());
        out.push(self.cmd);
        out.push(self.frg);
        out.extend_from_slice(&self.wnd.to_le_bytes());
        out.extend_from_slice(&self.ts.to_le_bytes());
        out.extend_from_slice(&self.sn.to_le_bytes());
        out.extend_from_slice(&self.una.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
    }

    /// Reads a header from the first 24 bytes of `b` (None if shorter).
    pub fn read(b: &[u8]) -> Option<Header> {
        let b: &[u8; OVERHEAD] = b.get(..OVERHEAD)?.try_into().ok()?;
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Header {
            conv: u32_at(0),
            cmd: b[4],
            frg: b[5],
            wnd: u16::from_le_bytes([b[6], b[7]]),
            ts: u32_at(8),
            sn: u32_at(12),
            una: u32_at(16),
            len: u32_at(20),
        })
    }
}

/// The conversation id of a datagram (its first 4 bytes), as `ikcp_getconv` reads it.
pub fn conv_of(datagram: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(datagram.get(..4)?.try_into().ok()?))
}
