//! HP-Socket's ARQ handshake packet: 12 bytes, little-endian (HP writes host order; every
//! platform it ships on is little-endian).
//!
//! ```text
//! 0        2     3      4          8          12
//! | 4F BB  | cmd | flag | selfConv | peerConv |
//! ```
//! `cmd` is 0x01 (handshake); `flag` is 0x00 or 0x01 ("complete": the sender is ready); any
//! other flag bit makes the packet invalid. `peerConv` is 0 while the sender does not know it.

/// Length of a handshake packet.
pub const LEN: usize = 12;
/// The magic number (wire bytes `4F BB`).
pub const MAGIC: u16 = 0xBB4F;
/// The one command.
pub const CMD_HANDSHAKE: u8 = 0x01;
/// The "complete" flag.
pub const FLAG_COMPLETE: u8 = 0x01;

/// A decoded handshake packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The sender is ready (flag 0x01).
    pub complete: bool,
    /// The sender's conversation id.
    pub self_conv: u32,
    /// The receiver's conversation id as the sender knows it (0: not yet).
    pub peer_conv: u32,
}

impl Packet {
    /// The 12 wire bytes.
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..2].copy_from_slice(&MAGIC.to_le_bytes());
        b[2] = CMD_HANDSHAKE;
        b[3] = if self.complete { FLAG_COMPLETE } else { 0 };
        b[4..8].copy_from_slice(&self.self_conv.to_le_bytes());
        b[8..12].copy_from_slice(&self.peer_conv.to_le_bytes());
        b
    }

    /// Parses exactly 12 bytes; None if the length, magic, command or flag is wrong.
    pub fn decode(b: &[u8]) -> Option<Packet> {
        let b: &[u8; LEN] = b.try_into().ok()?;
        if u16::from_le_bytes([b[0], b[1]]) != MAGIC || b[2] != CMD_HANDSHAKE || b[3] & 0xFE != 0 {
            return None;
        }
        Some(Packet {
            complete: b[3] == FLAG_COMPLETE,
            self_conv: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            peer_conv: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        })
    }
}

/// HP's conversation ids: a counter seeded from the millisecond clock, +1 per session, 0
/// skipped. One per process (or per shard, seeded apart) in the components.
#[derive(Clone, Copy, Debug)]
pub struct ConvIds(u32);

impl ConvIds {
    /// Starts after `seed` (HP uses the millisecond tick).
    pub fn new(seed: u32) -> Self {
        ConvIds(seed)
    }

    /// The next id, never 0.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(1);
        if self.0 == 0 {
            self.0 = 1;
        }
        self.0
    }
}
