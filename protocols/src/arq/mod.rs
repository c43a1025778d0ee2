//! HP-Socket's ARQ session (`UdpArqServer` / `UdpArqClient`), sans-IO: the 12-byte handshake
//! ([`handshake`]) and then [`Kcp`] in message mode with HP's settings.
//!
//! The component owns the UDP socket and the clock and handles heartbeats and the close
//! datagram first ([`crate::udp`]); every other datagram of the connection goes to
//! [`ArqSession::on_datagram`]: 12 bytes is a handshake packet, 24 or more is KCP (ignored
//! until the handshake completes), any other length is an error. [`ArqSession::tick`] is HP's
//! per-session timer (every `interval`, or when [`ArqSession::next_deadline`] says).
//!
//! # The handshake (as HP-Socket runs it)
//! Each side creates its session (the client on connect, the server on accept) and sends
//! `{flag 0, self, peer 0}` at once. A handshaking side learns `peer = packet.self` (a
//! different `self` later is a reset); when `packet.peer` equals its own conv it is **ready**
//! (`on_handshake`); `packet.peer == 0` is answered; any other value is a reset. A ready side
//! marks the peer **complete** when it sees flag 1 and sends `{1, self, peer}`. While
//! handshaking, or ready without having seen the peer's flag 1, packets are resent on the tick
//! with back-off `min(interval × n, 2000 ms)`; after `handshake_timeout` (5 s) from creation
//! either state is a failure.

pub mod handshake;
#[cfg(test)]
mod tests;

use crate::kcp::{segment::OVERHEAD, Kcp, KcpConfig, KcpError};
use handshake::Packet;

/// The back-off ceiling of handshake resends, ms.
pub const MAX_HANDSHAKE_INTERVAL: u32 = 2_000;

/// ARQ settings. [`ArqConfig::default`] is HP-Socket's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArqConfig {
    /// The KCP settings (interval = HP's FlushInterval, MTU = its MaxTransUnit, …).
    pub kcp: KcpConfig,
    /// Largest message either way (HP: 4096). Larger sends are refused; a larger message
    /// received closes the connection.
    pub max_message: usize,
    /// Handshake deadline from the session's creation, ms (HP: 5000).
    pub handshake_timeout: u32,
}

impl Default for ArqConfig {
    fn default() -> Self {
        ArqConfig {
            kcp: KcpConfig::default(),
            max_message: 4096,
            handshake_timeout: 5_000,
        }
    }
}

impl ArqConfig {
    /// HP's validity rules: 72 ≤ MTU ≤ 65536 (and within `max_datagram`), 0 < max message <
    /// 127 × (MTU − 24), handshake timeout > 2 × min RTO, positive windows and interval.
    pub fn validate(&self, max_datagram: usize) -> Result<(), &'static str> {
        let k = &self.kcp;
        if k.mtu < 3 * OVERHEAD || k.mtu > 65_536 || k.mtu > max_datagram {
            return Err("ARQ MTU must be within 72 and the maximum datagram size");
        }
        if self.max_message == 0 || self.max_message >= 127 * (k.mtu - OVERHEAD) {
            return Err("ARQ max message must be below 127 × (MTU − 24)");
        }
        if self.handshake_timeout <= 2 * k.min_rto {
            return Err("ARQ handshake timeout must exceed twice the minimum RTO");
        }
        if k.interval == 0 || k.send_window == 0 || k.recv_window == 0 || k.min_rto == 0 {
            return Err("ARQ interval, windows and minimum RTO must be positive");
        }
        Ok(())
    }
}

/// Why a session ends (the component closes the connection with this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArqError {
    /// A datagram of a length that is neither a handshake nor KCP, an invalid handshake
    /// packet, or KCP input that does not parse (HP: ERROR_INVALID_DATA).
    InvalidData,
    /// The peer's conv ids contradict what was agreed (HP: ERROR_CONNRESET).
    Reset,
    /// A fresh handshake (`{0, other conv, 0}`) came from this session's peer address: the
    /// peer restarted (or a new client got its address, as a NAT or the kernel reuses ports)
    /// and the old peer is gone. HP resets the session and the new client with it; a server
    /// should instead end this session quietly and open a new one for the handshake
    /// (`UdpServer` does).
    NewConversation,
    /// The handshake did not complete within `handshake_timeout` (HP: ERROR_TIMEOUT).
    Timeout,
    /// A message larger than `max_message` (sent or received).
    MessageTooLarge,
    /// A send before the handshake completed.
    NotReady,
    /// A segment was retransmitted 20 times without an acknowledgement (beyond HP: it keeps
    /// such a session until the heartbeats give up).
    DeadLink,
    /// The delivery callback refused a message (a listener's `HR_ERROR`).
    Refused,
}

impl ArqError {
    /// The errno a component reports in `on_close` for this error.
    pub fn errno(self) -> i32 {
        match self {
            ArqError::InvalidData => libc::EBADMSG,
            ArqError::Reset | ArqError::NewConversation => libc::ECONNRESET,
            ArqError::Timeout | ArqError::DeadLink => libc::ETIMEDOUT,
            ArqError::MessageTooLarge => libc::EMSGSIZE,
            ArqError::NotReady => libc::ENOTCONN,
            ArqError::Refused => libc::ECANCELED,
        }
    }
}

impl std::fmt::Display for ArqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ArqError::InvalidData => "invalid ARQ datagram",
            ArqError::Reset => "ARQ conversation reset by the peer",
            ArqError::NewConversation => "ARQ peer started a new conversation",
            ArqError::Timeout => "ARQ handshake timed out",
            ArqError::MessageTooLarge => "ARQ message over the maximum size",
            ArqError::NotReady => "ARQ handshake not complete",
            ArqError::DeadLink => "ARQ peer stopped acknowledging",
            ArqError::Refused => "message refused by the listener",
        })
    }
}

impl std::error::Error for ArqError {}

impl From<KcpError> for ArqError {
    fn from(e: KcpError) -> Self {
        match e {
            KcpError::TooLarge => ArqError::MessageTooLarge,
            _ => ArqError::InvalidData,
        }
    }
}

/// What a datagram did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A handshake packet that made this side ready: fire `on_handshake`.
    Ready,
    /// A handshake packet, handled.
    Handshake,
    /// KCP before the handshake completed: ignored, as HP does.
    Ignored,
    /// KCP input; this many messages were delivered.
    Messages(usize),
}

/// One ARQ conversation.
#[derive(Debug)]
pub struct ArqSession {
    cfg: ArqConfig,
    self_conv: u32,
    peer_conv: u32,
    ready: bool,
    peer_complete: bool,
    created: u32,
    hs_next: u32,
    hs_count: u32,
    hold_acks: bool,
    kcp: Kcp,
}

fn elapsed(now: u32, since: u32) -> u32 {
    now.wrapping_sub(since)
}

impl ArqSession {
    /// A session with conversation id `self_conv` (see [`handshake::ConvIds`]), created at
    /// `now`. Call [`ArqSession::tick`] at once: it sends the first handshake packet.
    pub fn new(cfg: ArqConfig, self_conv: u32, now: u32) -> ArqSession {
        ArqSession {
            kcp: Kcp::new(self_conv, &cfg.kcp),
            cfg,
            self_conv,
            peer_conv: 0,
            ready: false,
            peer_complete: false,
            created: now,
            hs_next: now,
            hs_count: 0,
            hold_acks: false,
        }
    }

    /// With `on`, a KCP datagram given to [`ArqSession::on_datagram`] leaves its
    /// acknowledgements queued instead of flushing them at once (HP's way): the caller then
    /// calls [`ArqSession::flush`] (or sends) before it waits again, and replies made while
    /// the messages were delivered travel in the same datagram as the acks. Same wire, one
    /// datagram fewer per echoed message.
    pub fn hold_acks(&mut self, on: bool) {
        self.hold_acks = on;
    }

    /// This side's conversation id.
    pub fn self_conv(&self) -> u32 {
        self.self_conv
    }

    /// The peer's conversation id (0 until learnt).
    pub fn peer_conv(&self) -> u32 {
        self.peer_conv
    }

    /// KCP segments sent again so far (wrapping; see [`Kcp::retransmits`]).
    pub fn retransmits(&self) -> u32 {
        self.kcp.retransmits()
    }

    /// Whether the handshake completed on this side.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Messages' segments waiting to be sent or acknowledged (HP's GetWaitingSendMessageCount).
    pub fn waiting(&self) -> usize {
        self.kcp.waiting()
    }

    /// Drops queued messages that have not started to leave (HP-Socket #227).
    pub fn drop_unsent(&mut self) -> usize {
        self.kcp.drop_unsent()
    }

    /// Frees the memory of empty KCP queues (for a session going idle; see [`Kcp::trim`]).
    pub fn trim(&mut self) {
        self.kcp.trim();
    }

    /// The KCP state (read-only), for statistics.
    pub fn kcp(&self) -> &Kcp {
        &self.kcp
    }

    /// Sends a handshake packet if one is due (HP's DoHandShake). Err on timeout.
    fn do_handshake(&mut self, now: u32, out: &mut dyn FnMut(&[u8])) -> Result<(), ArqError> {
        if elapsed(now, self.created) > self.cfg.handshake_timeout {
            return Err(ArqError::Timeout);
        }
        if (now.wrapping_sub(self.hs_next) as i32) < 0 {
            return Ok(());
        }
        self.hs_count += 1;
        let wait = self
            .cfg
            .kcp
            .interval
            .saturating_mul(self.hs_count)
            .min(MAX_HANDSHAKE_INTERVAL);
        self.hs_next = now.wrapping_add(wait);
        let p = Packet {
            complete: self.ready,
            self_conv: self.self_conv,
            peer_conv: self.peer_conv,
        };
        out(&p.encode());
        Ok(())
    }

    /// The session timer (HP's Check): handshake resends and their deadline, then KCP's
    /// update once ready.
    pub fn tick(
        &mut self,
        now: u32,
        scratch: &mut Vec<u8>,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ArqError> {
        if !self.ready {
            return self.do_handshake(now, out);
        }
        if !self.peer_complete {
            self.do_handshake(now, out)?;
        }
        self.kcp.update(now, scratch, out);
        if self.kcp.is_dead() {
            return Err(ArqError::DeadLink);
        }
        Ok(())
    }

    /// When [`ArqSession::tick`] is next due; None when no tick is needed until the next
    /// datagram or send (a ready session whose KCP is idle): 10,000 idle sessions cost no
    /// timer work.
    pub fn next_deadline(&self, now: u32) -> Option<u32> {
        if self.ready && self.peer_complete && !self.kcp.needs_update() {
            return None;
        }
        Some(self.next_tick(now))
    }

    fn next_tick(&self, now: u32) -> u32 {
        let hs = || {
            let timeout = self
                .created
                .wrapping_add(self.cfg.handshake_timeout)
                .wrapping_add(1);
            if (self.hs_next.wrapping_sub(timeout) as i32) < 0 {
                self.hs_next
            } else {
                timeout
            }
        };
        if !self.ready {
            return hs();
        }
        let k = self.kcp.check(now);
        if self.peer_complete {
            return k;
        }
        let h = hs();
        if (h.wrapping_sub(k) as i32) < 0 {
            h
        } else {
            k
        }
    }

    /// One datagram of this connection (not a heartbeat or close datagram). Complete messages
    /// go to `deliver` (return false to refuse one: the session ends with
    /// [`ArqError::Refused`]); datagrams to send go to `out`.
    pub fn on_datagram(
        &mut self,
        now: u32,
        data: &[u8],
        scratch: &mut Vec<u8>,
        out: &mut dyn FnMut(&[u8]),
        deliver: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Received, ArqError> {
        if data.len() >= OVERHEAD {
            return self.on_kcp(now, data, scratch, out, deliver);
        }
        if data.len() != handshake::LEN {
            return Err(ArqError::InvalidData);
        }
        let p = Packet::decode(data).ok_or(ArqError::InvalidData)?;
        // A fresh handshake from another conv, or from the same one long after the session
        // began (not a late copy of the first): a new peer on this address.
        if !p.complete && p.peer_conv == 0 && self.peer_conv != 0 {
            let restarted = p.self_conv != self.peer_conv
                || (self.ready && elapsed(now, self.created) > 2 * self.cfg.handshake_timeout);
            if restarted {
                return Err(ArqError::NewConversation);
            }
        }
        if self.ready {
            let reset = p.self_conv != self.peer_conv
                || (p.peer_conv != self.self_conv
                    && (p.peer_conv != 0
                        || elapsed(now, self.created) > 2 * self.cfg.handshake_timeout));
            if reset {
                return Err(ArqError::Reset);
            }
        } else {
            if self.peer_conv == 0 {
                self.peer_conv = p.self_conv;
                self.hs_next = now;
                self.hs_count = 0;
            } else if p.self_conv != self.peer_conv {
                return Err(ArqError::Reset);
            }
            if p.peer_conv == self.self_conv {
                self.ready = true;
                // (HP returns here before noting the flag; noting it saves a round of resends.)
                self.peer_complete |= p.complete;
                // Start KCP's clock now, so a send from `on_handshake` leaves at once.
                self.kcp.update(now, scratch, out);
                return Ok(Received::Ready);
            } else if p.peer_conv != 0 {
                return Err(ArqError::Reset);
            }
        }
        let newly_complete = p.complete && !self.peer_complete;
        if p.complete {
            self.peer_complete = true;
        }
        if self.ready && (!p.complete || newly_complete) {
            // A ready side answers at once with {1, self, peer} a peer that is not ready yet,
            // or the first packet that shows it ready: an answer held back by our own back-off
            // (as HP does) could let the peer's handshake time out. Later packets from a
            // complete peer get the rate-limited answer below, so two ready sides never
            // answer each other in a loop.
            let p = Packet {
                complete: true,
                self_conv: self.self_conv,
                peer_conv: self.peer_conv,
            };
            out(&p.encode());
        } else {
            // As HP's ReceiveHandShake: resend if due; its timeout is the tick's to enforce.
            let _ = self.do_handshake(now, out);
        }
        Ok(Received::Handshake)
    }

    fn on_kcp(
        &mut self,
        now: u32,
        data: &[u8],
        scratch: &mut Vec<u8>,
        out: &mut dyn FnMut(&[u8]),
        deliver: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<Received, ArqError> {
        if !self.ready {
            return Ok(Received::Ignored);
        }
        self.kcp.input(now, data)?;
        let mut n = 0;
        // Messages are reassembled in the caller's scratch buffer (the flush below reuses it),
        // so a session holds no buffer of its own.
        while let Some(size) = self.kcp.peek_size() {
            if size > self.cfg.max_message {
                return Err(ArqError::MessageTooLarge);
            }
            scratch.clear();
            self.kcp.recv(scratch);
            n += 1;
            if !deliver(scratch) {
                return Err(ArqError::Refused);
            }
        }
        if !self.hold_acks {
            self.kcp.flush(scratch, out);
        }
        Ok(Received::Messages(n))
    }

    /// Queues one message and flushes at once (HP's Send) at time `now`. Refused before the
    /// handshake completes and over `max_message`.
    pub fn send(
        &mut self,
        now: u32,
        msg: &[u8],
        scratch: &mut Vec<u8>,
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ArqError> {
        if !self.ready {
            return Err(ArqError::NotReady);
        }
        if msg.len() > self.cfg.max_message {
            return Err(ArqError::MessageTooLarge);
        }
        self.kcp.send(msg)?;
        self.kcp.set_now(now);
        self.kcp.flush(scratch, out);
        Ok(())
    }

    /// Flushes KCP at time `now` (beyond HP: on demand, e.g. after queueing several messages).
    pub fn flush(&mut self, now: u32, scratch: &mut Vec<u8>, out: &mut dyn FnMut(&[u8])) {
        if self.ready {
            self.kcp.set_now(now);
            self.kcp.flush(scratch, out);
        }
    }
}
