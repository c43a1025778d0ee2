//! Incremental UTF-8 validation: a text message is checked as its bytes arrive, so invalid
//! text fails in the middle of a fragment (RFC 6455 §8.1), not at the message's end.

/// Validates a byte stream split anywhere, keeping at most an incomplete character (3 bytes).
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    n: u8,
}

/// Bytes in the character starting with lead byte `b` (0 when `b` cannot start one).
fn width(b: u8) -> usize {
    match b {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// True when `b` can still become valid UTF-8 by appending bytes.
fn valid_prefix(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Checks `data`, the next bytes of the text; false as soon as they cannot be valid.
    pub fn push(&mut self, mut data: &[u8]) -> bool {
        if self.n > 0 {
            let need = width(self.partial[0]);
            let take = (need - self.n as usize).min(data.len());
            self.partial[self.n as usize..self.n as usize + take].copy_from_slice(&data[..take]);
            self.n += take as u8;
            data = &data[take..];
            if (self.n as usize) < need {
                return valid_prefix(&self.partial[..self.n as usize]);
            }
            if std::str::from_utf8(&self.partial[..need]).is_err() {
                return false;
            }
            self.n = 0;
        }
        match std::str::from_utf8(data) {
            Ok(_) => true,
            Err(e) if e.error_len().is_some() => false,
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.n = tail.len() as u8;
                true
            }
        }
    }

    /// True when the text ended on a character boundary.
    pub fn is_complete(&self) -> bool {
        self.n == 0
    }

    /// Starts over (a new message).
    pub fn reset(&mut self) {
        self.n = 0;
    }
}
