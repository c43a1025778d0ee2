//! HP-Socket's "connection-oriented" UDP rules, sans-IO: which datagrams are control
//! datagrams, what a server does with a datagram from a known or a new peer, and the heartbeat
//! clocks of both sides. The components own the sockets and the time; these functions decide.
//!
//! - **Heartbeat**: a 0-byte datagram. A client sends one when it connects and then every
//!   `interval`; any datagram it receives resets its miss counter, and after `attempts` misses
//!   it closes without notifying the server. A server answers every heartbeat with one and
//!   sends none of its own; it closes a peer silent for `attempts × interval`.
//! - **Close**: exactly the 16 bytes of [`CLOSE_DATAGRAM`] (matched only at that length), never
//!   acknowledged. Its receiver closes the connection normally.
//! - **Size**: a datagram longer than the maximum (default 1432) from a new address is
//!   ignored; on an existing connection it closes that connection (`EMSGSIZE`).

/// The close notification, byte for byte as HP-Socket sends it.
pub const CLOSE_DATAGRAM: [u8; 16] = [
    0xBE, 0xB6, 0x1F, 0xEB, 0xDA, 0x52, 0x46, 0xBA, 0x92, 0x33, 0x59, 0xDB, 0xBF, 0xE6, 0xC8, 0xE4,
];

/// HP-Socket's default maximum datagram size (MaxDatagramSize).
pub const DEFAULT_MAX_DATAGRAM: usize = 1432;

/// HP-Socket's default heartbeat interval (DetectInterval), ms.
pub const DEFAULT_DETECT_INTERVAL_MS: u32 = 60_000;

/// HP-Socket's default heartbeat misses before a close (DetectAttempts).
pub const DEFAULT_DETECT_ATTEMPTS: u32 = 3;

/// What one received datagram is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// 0 bytes: a heartbeat.
    Heartbeat,
    /// The 16-byte close notification.
    Close,
    /// Longer than the maximum datagram size.
    Oversize(usize),
    /// Application data.
    Data(&'a [u8]),
}

/// Classifies `d` against the maximum datagram size `max`.
pub fn classify(d: &[u8], max: usize) -> Datagram<'_> {
    if d.is_empty() {
        Datagram::Heartbeat
    } else if d.len() > max {
        Datagram::Oversize(d.len())
    } else if d == CLOSE_DATAGRAM {
        Datagram::Close
    } else {
        Datagram::Data(d)
    }
}

/// What a server does with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerAction<'a> {
    /// Drop it; no connection is made or touched.
    Ignore,
    /// A new address while at the connection limit: send it [`CLOSE_DATAGRAM`], make nothing.
    Refuse,
    /// Open a connection for the new address (`on_accept`, `on_handshake`), then apply `then`.
    Open(Existing<'a>),
    /// An existing connection: apply this.
    Existing(Existing<'a>),
}

/// What happens on a connection for one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing<'a> {
    /// Answer with a 0-byte datagram.
    AnswerHeartbeat,
    /// Close normally (`on_close(Close, 0)`); nothing is sent back.
    PeerClosed,
    /// Close with `EMSGSIZE` and send [`CLOSE_DATAGRAM`].
    TooLarge(usize),
    /// Deliver to `on_receive`.
    Receive(&'a [u8]),
}

/// HP's server rules for a datagram `d` from an address that has a connection (`known`) or
/// not, with `open` connections of at most `max_conns` (0 = no limit).
pub fn server_action(
    d: &[u8],
    max: usize,
    known: bool,
    open: usize,
    max_conns: usize,
) -> ServerAction<'_> {
    let what = match classify(d, max) {
        Datagram::Heartbeat => Existing::AnswerHeartbeat,
        Datagram::Close => Existing::PeerClosed,
        Datagram::Oversize(n) if known => Existing::TooLarge(n),
        Datagram::Oversize(_) => return ServerAction::Ignore,
        Datagram::Data(b) => Existing::Receive(b),
    };
    if known {
        ServerAction::Existing(what)
    } else if max_conns != 0 && open >= max_conns {
        ServerAction::Refuse
    } else {
        ServerAction::Open(what)
    }
}

/// A server connection is dead when nothing came for `attempts × interval` (0 attempts or a
/// 0 interval: never).
pub fn server_peer_expired(
    last_heard_ms: u64,
    now_ms: u64,
    interval_ms: u32,
    attempts: u32,
) -> bool {
    interval_ms != 0
        && attempts != 0
        && now_ms.saturating_sub(last_heard_ms) >= u64::from(interval_ms) * u64::from(attempts)
}

/// The client's heartbeat clock.
#[derive(Clone, Copy, Debug)]
pub struct ClientHeartbeat {
    interval_ms: u32,
    attempts: u32,
    misses: u32,
    next_ms: u64,
}

/// What the client's heartbeat clock asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Nothing until [`ClientHeartbeat::next_deadline`].
    Wait,
    /// Send a 0-byte datagram now.
    Send,
    /// `attempts` intervals passed without a datagram: close, without notifying the server.
    Dead,
}

impl ClientHeartbeat {
    /// A clock started at `now_ms` (the first heartbeat is due at once). An interval or
    /// attempts of 0 turn detection off (only the first heartbeat is sent).
    pub fn new(now_ms: u64, interval_ms: u32, attempts: u32) -> Self {
        ClientHeartbeat {
            interval_ms,
            attempts,
            misses: 0,
            next_ms: now_ms,
        }
    }

    /// A datagram arrived (any datagram, heartbeat or not).
    pub fn heard(&mut self) {
        self.misses = 0;
    }

    /// When [`ClientHeartbeat::poll`] next has something to do (None: never).
    pub fn next_deadline(&self) -> Option<u64> {
        (self.next_ms != u64::MAX).then_some(self.next_ms)
    }

    /// Advances the clock to `now_ms`.
    pub fn poll(&mut self, now_ms: u64) -> HeartbeatAction {
        if now_ms < self.next_ms {
            return HeartbeatAction::Wait;
        }
        if self.interval_ms == 0 || self.attempts == 0 {
            self.next_ms = u64::MAX;
            return HeartbeatAction::Send;
        }
        if self.misses >= self.attempts {
            self.next_ms = u64::MAX;
            return HeartbeatAction::Dead;
        }
        self.misses += 1;
        self.next_ms = now_ms + u64::from(self.interval_ms);
        HeartbeatAction::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_datagrams() {
        assert_eq!(classify(&[], 1432), Datagram::Heartbeat);
        assert_eq!(classify(&CLOSE_DATAGRAM, 1432), Datagram::Close);
        // Only exactly those 16 bytes close.
        let mut longer = CLOSE_DATAGRAM.to_vec();
        longer.push(0);
        assert_eq!(classify(&longer, 1432), Datagram::Data(&longer));
        assert_eq!(
            classify(&CLOSE_DATAGRAM[..15], 1432),
            Datagram::Data(&CLOSE_DATAGRAM[..15])
        );
        assert_eq!(classify(&[1; 1433], 1432), Datagram::Oversize(1433));
        assert_eq!(classify(&[1; 1432], 1432), Datagram::Data(&[1; 1432]));
    }

    #[test]
    fn server_rules() {
        use Existing::*;
        assert_eq!(
            server_action(&[7; 2000], 1432, false, 0, 0),
            ServerAction::Ignore
        );
        assert_eq!(
            server_action(&[7; 2000], 1432, true, 1, 0),
            ServerAction::Existing(TooLarge(2000))
        );
        assert_eq!(
            server_action(b"", 1432, false, 0, 0),
            ServerAction::Open(AnswerHeartbeat)
        );
        assert_eq!(
            server_action(&CLOSE_DATAGRAM, 1432, false, 0, 0),
            ServerAction::Open(PeerClosed)
        );
        assert_eq!(
            server_action(b"hi", 1432, false, 5, 5),
            ServerAction::Refuse
        );
        assert_eq!(
            server_action(b"hi", 1432, true, 5, 5),
            ServerAction::Existing(Receive(b"hi"))
        );
        assert!(!server_peer_expired(0, 179_999, 60_000, 3));
        assert!(server_peer_expired(0, 180_000, 60_000, 3));
        assert!(!server_peer_expired(0, u64::MAX, 60_000, 0));
    }

    #[test]
    fn client_heartbeat_clock() {
        let mut h = ClientHeartbeat::new(1_000, 100, 3);
        assert_eq!(h.poll(1_000), HeartbeatAction::Send); // at connect
        assert_eq!(h.poll(1_050), HeartbeatAction::Wait);
        assert_eq!(h.next_deadline(), Some(1_100));
        assert_eq!(h.poll(1_100), HeartbeatAction::Send);
        h.heard();
        assert_eq!(h.poll(1_200), HeartbeatAction::Send);
        assert_eq!(h.poll(1_300), HeartbeatAction::Send);
        assert_eq!(h.poll(1_400), HeartbeatAction::Send);
        assert_eq!(h.poll(1_500), HeartbeatAction::Dead);
        assert_eq!(h.next_deadline(), None);
        let mut off = ClientHeartbeat::new(0, 0, 3);
        assert_eq!(off.poll(0), HeartbeatAction::Send);
        assert_eq!(off.poll(u64::MAX - 1), HeartbeatAction::Wait);
    }
}
