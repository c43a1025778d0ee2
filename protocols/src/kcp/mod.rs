//! KCP, the ARQ protocol HP-Socket's `UdpArqServer`/`UdpArqClient` run over UDP, **sans-IO**:
//! the caller feeds received datagrams with [`Kcp::input`], gives the time in milliseconds to
//! every call that needs it, and receives the datagrams to send through an `out` callback of
//! [`Kcp::flush`] / [`Kcp::update`]. No socket, no clock, no timer: [`Kcp::check`] says when the
//! next [`Kcp::update`] is due, so a shard keeps all its sessions in one deadline structure.
//!
//! Wire format and algorithm follow the reference `ikcp.c` (skywind3000/kcp): 24-byte
//! little-endian segment headers ([`segment`]), message mode (a message is split into at most
//! 127 fragments, `frg` counting down), selective and cumulative acknowledgements, RTO
//! estimation with `rx_minrto`, fast retransmission after `fastresend` later acks (at most
//! `fastlimit` times), congestion window unless `nc`, window probing when the peer's window is
//! zero, and the `dead_link` retransmission bound. The `IKCP_FASTACK_CONSERVE` variant is used.
//!
//! Differences from the C code, none visible on the wire:
//! - No per-session output buffer: datagrams are assembled in a scratch `Vec` the caller owns
//!   (one per shard), so an idle session holds only its small struct and empty queues.
//! - HP-Socket's patched `ikcp.c` ignores the conv field of input segments (each side sends
//!   with its own conv); [`KcpConfig::check_conv`] = false does the same, true is stock KCP.
//! - [`Kcp::input`] takes the time, so round trips are measured against the arrival time.
//! - Beyond HP: [`Kcp::drop_unsent`] discards whole messages not yet sent (HP-Socket #227).
//! - A segment's retransmission timeout backs off as in the reference but never past 60 s
//!   (`IKCP_RTO_MAX`); the reference lets it double unbounded (to about 29 hours at the 20th
//!   transmission), so a link back after an outage waited minutes for the next resend (found by
//!   the `kcp` fuzz target).

pub mod segment;
#[cfg(test)]
mod tests;

use segment::{cmd, Header, OVERHEAD};
use std::collections::VecDeque;

const RTO_NDL: u32 = 30;
const RTO_MIN: u32 = 100;
const RTO_DEF: u32 = 200;
const RTO_MAX: u32 = 60_000;
const ASK_SEND: u8 = 1;
const ASK_TELL: u8 = 2;
/// The reference's minimum receive window; also the bound on fragments per message.
const WND_RCV: u32 = 128;
const THRESH_INIT: u32 = 2;
const THRESH_MIN: u32 = 2;
const PROBE_INIT: u32 = 7_000;
const PROBE_LIMIT: u32 = 120_000;
const DEAD_LINK: u32 = 20;

/// Signed difference of two wrapping millisecond or sequence values.
fn diff(later: u32, earlier: u32) -> i32 {
    later.wrapping_sub(earlier) as i32
}

/// A session's settings. [`KcpConfig::default`] is HP-Socket's ARQ defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KcpConfig {
    /// `ikcp_nodelay`'s nodelay: 0 (HP's default), 1 or 2. Non-zero lowers the minimum RTO to 30
    /// ms unless [`KcpConfig::min_rto`] sets it, and backs off more gently.
    pub nodelay: u8,
    /// Flush interval, ms (10..=5000; HP: 60).
    pub interval: u32,
    /// Fast retransmission after this many later acks (0 = off; HP: 0).
    pub fast_resend: u32,
    /// Turn the congestion window off (HP: false).
    pub no_congestion_control: bool,
    /// Send window, segments (HP: 128).
    pub send_window: u16,
    /// Receive window, segments (at least 128; HP: 512).
    pub recv_window: u16,
    /// Largest datagram, bytes (HP: its MaxDatagramSize 1432).
    pub mtu: usize,
    /// Minimum retransmission timeout, ms (HP: 30).
    pub min_rto: u32,
    /// Fast retransmissions per segment at most (0 = unbounded; HP: 5).
    pub fast_limit: u32,
    /// Drop input whose conv is not this session's (stock KCP). HP-Socket ignores it.
    pub check_conv: bool,
}

impl Default for KcpConfig {
    fn default() -> Self {
        KcpConfig {
            nodelay: 0,
            interval: 60,
            fast_resend: 0,
            no_congestion_control: false,
            send_window: 128,
            recv_window: 512,
            mtu: 1432,
            min_rto: 30,
            fast_limit: 5,
            check_conv: false,
        }
    }
}

/// Why [`Kcp::input`] or [`Kcp::send`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KcpError {
    /// Shorter than a segment header, or a length field past the datagram's end.
    Truncated,
    /// An unknown command byte.
    BadCommand,
    /// A conv other than the session's (only with [`KcpConfig::check_conv`]).
    WrongConv,
    /// A message needing 128 or more fragments.
    TooLarge,
}

impl std::fmt::Display for KcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KcpError::Truncated => "truncated KCP segment",
            KcpError::BadCommand => "unknown KCP command",
            KcpError::WrongConv => "KCP segment of another conversation",
            KcpError::TooLarge => "message needs too many KCP fragments",
        })
    }
}

impl std::error::Error for KcpError {}

/// One queued segment (its header fields that do not change are rebuilt at send time).
#[derive(Debug)]
struct Seg {
    frg: u8,
    ts: u32,
    sn: u32,
    resend_at: u32,
    rto: u32,
    fastack: u32,
    xmit: u32,
    data: Box<[u8]>,
}

impl Seg {
    fn new(frg: u8, data: &[u8]) -> Seg {
        Seg {
            frg,
            ts: 0,
            sn: 0,
            resend_at: 0,
            rto: 0,
            fastack: 0,
            xmit: 0,
            data: data.into(),
        }
    }
}

/// One KCP session (message mode).
#[derive(Debug)]
pub struct Kcp {
    conv: u32,
    /// Segments sent again (timeout or fast retransmission), wrapping.
    retransmits: u32,
    check_conv: bool,
    mtu: u32,
    mss: u32,
    snd_una: u32,
    snd_nxt: u32,
    rcv_nxt: u32,
    ssthresh: u32,
    rx_rttval: i32,
    rx_srtt: i32,
    rx_rto: u32,
    rx_minrto: u32,
    snd_wnd: u32,
    rcv_wnd: u32,
    rmt_wnd: u32,
    cwnd: u32,
    incr: u32,
    probe: u8,
    current: u32,
    interval: u32,
    ts_flush: u32,
    nodelay: u32,
    updated: bool,
    ts_probe: u32,
    probe_wait: u32,
    dead: bool,
    fast_resend: u32,
    fast_limit: u32,
    no_cwnd: bool,
    /// The last segment moved to `snd_buf` was not the end of its message.
    mid_message: bool,
    snd_queue: VecDeque<Seg>,
    snd_buf: VecDeque<Seg>,
    rcv_queue: VecDeque<Seg>,
    rcv_buf: VecDeque<Seg>,
    acks: Vec<(u32, u32)>,
}

impl Kcp {
    /// Segments sent again so far (after a timeout or as a fast retransmission); wraps at
    /// 2^32, so a reader takes differences with `wrapping_sub`.
    pub fn retransmits(&self) -> u32 {
        self.retransmits
    }

    /// A session sending with conversation id `conv`.
    pub fn new(conv: u32, cfg: &KcpConfig) -> Kcp {
        let mtu = cfg.mtu.clamp(OVERHEAD + 26, 65_535) as u32;
        Kcp {
            conv,
            retransmits: 0,
            check_conv: cfg.check_conv,
            mtu,
            mss: mtu - OVERHEAD as u32,
            snd_una: 0,
            snd_nxt: 0,
            rcv_nxt: 0,
            ssthresh: THRESH_INIT,
            rx_rttval: 0,
            rx_srtt: 0,
            rx_rto: RTO_DEF,
            rx_minrto: if cfg.min_rto > 0 {
                cfg.min_rto
            } else if cfg.nodelay > 0 {
                RTO_NDL
            } else {
                RTO_MIN
            },
            snd_wnd: u32::from(cfg.send_window.max(1)),
            rcv_wnd: u32::from(cfg.recv_window).max(WND_RCV),
            rmt_wnd: WND_RCV,
            cwnd: 0,
            incr: 0,
            probe: 0,
            current: 0,
            interval: cfg.interval.clamp(10, 5000),
            ts_flush: 100,
            nodelay: u32::from(cfg.nodelay),
            updated: false,
            ts_probe: 0,
            probe_wait: 0,
            dead: false,
            fast_resend: cfg.fast_resend,
            fast_limit: cfg.fast_limit,
            no_cwnd: cfg.no_congestion_control,
            mid_message: false,
            snd_queue: VecDeque::new(),
            snd_buf: VecDeque::new(),
            rcv_queue: VecDeque::new(),
            rcv_buf: VecDeque::new(),
            acks: Vec::new(),
        }
    }

    /// The conversation id this session sends with.
    pub fn conv(&self) -> u32 {
        self.conv
    }

    /// Largest payload of one segment (MTU − 24).
    pub fn mss(&self) -> usize {
        self.mss as usize
    }

    /// The largest message [`Kcp::send`] takes: 127 fragments.
    pub fn max_message(&self) -> usize {
        (WND_RCV as usize - 1) * self.mss as usize
    }

    /// Segments waiting to be sent or acknowledged (`ikcp_waitsnd`).
    pub fn waiting(&self) -> usize {
        self.snd_buf.len() + self.snd_queue.len()
    }

    /// True once a segment was sent `dead_link` (20) times without an acknowledgement.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Whether [`Kcp::update`] has anything to do: data queued or unacknowledged, acks to send,
    /// or a window to probe. An idle session needs no timer until the next input or send.
    pub fn needs_update(&self) -> bool {
        !self.snd_queue.is_empty()
            || !self.snd_buf.is_empty()
            || !self.acks.is_empty()
            || self.rmt_wnd == 0
            || self.probe != 0
    }

    /// Frees the queues' memory where they are empty (they keep their capacity otherwise): for
    /// a session going idle.
    pub fn trim(&mut self) {
        for q in [
            &mut self.snd_queue,
            &mut self.snd_buf,
            &mut self.rcv_queue,
            &mut self.rcv_buf,
        ] {
            if q.is_empty() && q.capacity() != 0 {
                *q = VecDeque::new();
            }
        }
        if self.acks.is_empty() && self.acks.capacity() != 0 {
            self.acks = Vec::new();
        }
    }

    /// Whether nothing is queued in either direction (no data held for the peer or the user).
    pub fn is_idle(&self) -> bool {
        self.snd_queue.is_empty()
            && self.snd_buf.is_empty()
            && self.rcv_queue.is_empty()
            && self.rcv_buf.is_empty()
            && self.acks.is_empty()
    }

    /// Queues one message (split into fragments of [`Kcp::mss`]); it leaves at the next flush.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), KcpError> {
        let mss = self.mss as usize;
        let count = msg.len().div_ceil(mss).max(1);
        if count >= WND_RCV as usize {
            return Err(KcpError::TooLarge);
        }
        if msg.is_empty() {
            self.snd_queue.push_back(Seg::new(0, &[]));
            return Ok(());
        }
        for (i, chunk) in msg.chunks(mss).enumerate() {
            self.snd_queue
                .push_back(Seg::new((count - i - 1) as u8, chunk));
        }
        Ok(())
    }

    /// Discards the messages not yet handed to the wire (whole messages only: the rest of a
    /// message whose first fragments already left is kept, or the peer could never complete
    /// it). Returns how many segments were dropped.
    pub fn drop_unsent(&mut self) -> usize {
        let keep = if self.mid_message {
            self.snd_queue
                .iter()
                .position(|s| s.frg == 0)
                .map_or(self.snd_queue.len(), |i| i + 1)
        } else {
            0
        };
        let dropped = self.snd_queue.len() - keep;
        self.snd_queue.truncate(keep);
        dropped
    }

    /// Size of the next whole message ready for [`Kcp::recv`], if there is one.
    pub fn peek_size(&self) -> Option<usize> {
        let first = self.rcv_queue.front()?;
        if first.frg == 0 {
            return Some(first.data.len());
        }
        if self.rcv_queue.len() < usize::from(first.frg) + 1 {
            return None;
        }
        let mut n = 0;
        for s in &self.rcv_queue {
            n += s.data.len();
            if s.frg == 0 {
                break;
            }
        }
        Some(n)
    }

    /// Appends the next whole message to `out`; false if none is complete.
    pub fn recv(&mut self, out: &mut Vec<u8>) -> bool {
        if self.peek_size().is_none() {
            return false;
        }
        let recover = self.rcv_queue.len() as u32 >= self.rcv_wnd;
        while let Some(s) = self.rcv_queue.pop_front() {
            out.extend_from_slice(&s.data);
            if s.frg == 0 {
                break;
            }
        }
        self.move_to_queue();
        if recover && (self.rcv_queue.len() as u32) < self.rcv_wnd {
            self.probe |= ASK_TELL;
        }
        true
    }

    fn move_to_queue(&mut self) {
        while let Some(s) = self.rcv_buf.front() {
            if s.sn == self.rcv_nxt && (self.rcv_queue.len() as u32) < self.rcv_wnd {
                let s = self.rcv_buf.pop_front().expect("front exists");
                self.rcv_queue.push_back(s);
                self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
            } else {
                break;
            }
        }
    }

    fn update_ack(&mut self, rtt: i32) {
        // The echoed timestamp comes from the peer: bound what it can do to the arithmetic.
        let rtt = rtt.clamp(0, RTO_MAX as i32);
        if self.rx_srtt == 0 {
            self.rx_srtt = rtt;
            self.rx_rttval = rtt / 2;
        } else {
            let delta = (rtt - self.rx_srtt).abs();
            self.rx_rttval = (3 * self.rx_rttval + delta) / 4;
            self.rx_srtt = ((7 * self.rx_srtt + rtt) / 8).max(1);
        }
        let rto = self.rx_srtt as u32 + self.interval.max(4 * self.rx_rttval as u32);
        self.rx_rto = rto.clamp(self.rx_minrto, RTO_MAX);
    }

    fn shrink_buf(&mut self) {
        self.snd_una = self.snd_buf.front().map_or(self.snd_nxt, |s| s.sn);
    }

    fn parse_ack(&mut self, sn: u32) {
        if diff(sn, self.snd_una) < 0 || diff(sn, self.snd_nxt) >= 0 {
            return;
        }
        if let Some(i) = self.snd_buf.iter().position(|s| diff(sn, s.sn) <= 0) {
            if self.snd_buf[i].sn == sn {
                self.snd_buf.remove(i);
            }
        }
    }

    fn parse_una(&mut self, una: u32) {
        while self.snd_buf.front().is_some_and(|s| diff(una, s.sn) > 0) {
            self.snd_buf.pop_front();
        }
    }

    fn parse_fastack(&mut self, sn: u32, ts: u32) {
        if diff(sn, self.snd_una) < 0 || diff(sn, self.snd_nxt) >= 0 {
            return;
        }
        for s in self.snd_buf.iter_mut() {
            if diff(sn, s.sn) < 0 {
                break;
            } else if sn != s.sn && diff(ts, s.ts) >= 0 {
                s.fastack += 1;
            }
        }
    }

    fn parse_data(&mut self, seg: Seg) {
        let sn = seg.sn;
        if diff(sn, self.rcv_nxt.wrapping_add(self.rcv_wnd)) >= 0 || diff(sn, self.rcv_nxt) < 0 {
            return;
        }
        // Insert in order, from the back (segments mostly arrive in order).
        let mut at = self.rcv_buf.len();
        let mut repeat = false;
        while at > 0 {
            let s = &self.rcv_buf[at - 1];
            if s.sn == sn {
                repeat = true;
                break;
            }
            if diff(sn, s.sn) > 0 {
                break;
            }
            at -= 1;
        }
        if !repeat {
            self.rcv_buf.insert(at, seg);
        }
        self.move_to_queue();
    }

    /// Feeds one received datagram (one or more segments) at time `now` (ms). Segments before
    /// an error are kept, as in the reference. Returns the number of segments read.
    pub fn input(&mut self, now: u32, mut data: &[u8]) -> Result<usize, KcpError> {
        if data.len() < OVERHEAD {
            return Err(KcpError::Truncated);
        }
        self.current = now;
        let prev_una = self.snd_una;
        let mut max_ack: Option<(u32, u32)> = None;
        let mut segments = 0;
        while data.len() >= OVERHEAD {
            let h = Header::read(data).ok_or(KcpError::Truncated)?;
            if self.check_conv && h.conv != self.conv {
                return Err(KcpError::WrongConv);
            }
            let body = &data[OVERHEAD..];
            let len = h.len as usize;
            if body.len() < len {
                return Err(KcpError::Truncated);
            }
            if !matches!(h.cmd, cmd::PUSH | cmd::ACK | cmd::WASK | cmd::WINS) {
                return Err(KcpError::BadCommand);
            }
            self.rmt_wnd = u32::from(h.wnd);
            self.parse_una(h.una);
            self.shrink_buf();
            match h.cmd {
                cmd::ACK => {
                    if diff(self.current, h.ts) >= 0 {
                        self.update_ack(diff(self.current, h.ts));
                    }
                    self.parse_ack(h.sn);
                    self.shrink_buf();
                    match max_ack {
                        None => max_ack = Some((h.sn, h.ts)),
                        Some((sn, ts)) => {
                            if diff(h.sn, sn) > 0 && diff(h.ts, ts) > 0 {
                                max_ack = Some((h.sn, h.ts));
                            }
                        }
                    }
                }
                // Within the receive window: acknowledged, and kept unless already delivered.
                cmd::PUSH if diff(h.sn, self.rcv_nxt.wrapping_add(self.rcv_wnd)) < 0 => {
                    self.acks.push((h.sn, h.ts));
                    if diff(h.sn, self.rcv_nxt) >= 0 {
                        let mut s = Seg::new(h.frg, &body[..len]);
                        s.sn = h.sn;
                        s.ts = h.ts;
                        self.parse_data(s);
                    }
                }
                cmd::WASK => self.probe |= ASK_TELL,
                // PUSH beyond the window: dropped. WINS: the window was read from the header.
                _ => {}
            }
            segments += 1;
            data = &body[len..];
        }
        if let Some((sn, ts)) = max_ack {
            self.parse_fastack(sn, ts);
        }
        if diff(self.snd_una, prev_una) > 0 && self.cwnd < self.rmt_wnd {
            let mss = self.mss;
            if self.cwnd < self.ssthresh {
                self.cwnd += 1;
                self.incr += mss;
            } else {
                self.incr = self.incr.max(mss);
                self.incr += (mss * mss) / self.incr + mss / 16;
                if (self.cwnd + 1) * mss <= self.incr {
                    self.cwnd = self.incr.div_ceil(mss.max(1));
                }
            }
            if self.cwnd > self.rmt_wnd {
                self.cwnd = self.rmt_wnd;
                self.incr = self.rmt_wnd * mss;
            }
        }
        Ok(segments)
    }

    fn wnd_unused(&self) -> u16 {
        let used = self.rcv_queue.len() as u32;
        self.rcv_wnd.saturating_sub(used).min(u32::from(u16::MAX)) as u16
    }

    /// Sends what is due now: acknowledgements, window probes, new segments within the
    /// window, retransmissions. Datagrams (≤ MTU) are assembled in `scratch` and handed to
    /// `out` one at a time. Does nothing before the first [`Kcp::update`].
    pub fn flush(&mut self, scratch: &mut Vec<u8>, out: &mut dyn FnMut(&[u8])) {
        if !self.updated {
            return;
        }
        let current = self.current;
        let mtu = self.mtu as usize;
        scratch.clear();
        let mut emit = |scratch: &mut Vec<u8>, need: usize| {
            if scratch.len() + need > mtu {
                out(scratch);
                scratch.clear();
            }
        };
        let wnd = self.wnd_unused();
        let mut control = Header {
            conv: self.conv,
            cmd: cmd::ACK,
            frg: 0,
            wnd,
            ts: 0,
            sn: 0,
            una: self.rcv_nxt,
            len: 0,
        };
        for &(sn, ts) in &self.acks {
            emit(scratch, OVERHEAD);
            control.sn = sn;
            control.ts = ts;
            control.write(scratch);
        }
        self.acks.clear();
        if self.acks.capacity() > 64 {
            self.acks.shrink_to(8);
        }
        control.sn = 0;
        control.ts = 0;

        if self.rmt_wnd == 0 {
            if self.probe_wait == 0 {
                self.probe_wait = PROBE_INIT;
                self.ts_probe = current.wrapping_add(self.probe_wait);
            } else if diff(current, self.ts_probe) >= 0 {
                self.probe_wait = self.probe_wait.max(PROBE_INIT);
                self.probe_wait += self.probe_wait / 2;
                self.probe_wait = self.probe_wait.min(PROBE_LIMIT);
                self.ts_probe = current.wrapping_add(self.probe_wait);
                self.probe |= ASK_SEND;
            }
        } else {
            self.ts_probe = 0;
            self.probe_wait = 0;
        }
        if self.probe & ASK_SEND != 0 {
            control.cmd = cmd::WASK;
            emit(scratch, OVERHEAD);
            control.write(scratch);
        }
        if self.probe & ASK_TELL != 0 {
            control.cmd = cmd::WINS;
            emit(scratch, OVERHEAD);
            control.write(scratch);
        }
        self.probe = 0;

        let mut cwnd = self.snd_wnd.min(self.rmt_wnd);
        if !self.no_cwnd {
            cwnd = cwnd.min(self.cwnd);
        }
        while diff(self.snd_nxt, self.snd_una.wrapping_add(cwnd)) < 0 {
            let Some(mut s) = self.snd_queue.pop_front() else {
                break;
            };
            self.mid_message = s.frg != 0;
            s.ts = current;
            s.sn = self.snd_nxt;
            self.snd_nxt = self.snd_nxt.wrapping_add(1);
            s.resend_at = current;
            s.rto = self.rx_rto;
            s.fastack = 0;
            s.xmit = 0;
            self.snd_buf.push_back(s);
        }

        let resent = if self.fast_resend > 0 {
            self.fast_resend
        } else {
            u32::MAX
        };
        let rtomin = if self.nodelay == 0 {
            self.rx_rto >> 3
        } else {
            0
        };
        let mut change = false;
        let mut lost = false;
        for s in self.snd_buf.iter_mut() {
            let mut need = false;
            if s.xmit == 0 {
                need = true;
                s.xmit += 1;
                s.rto = self.rx_rto;
                s.resend_at = current.wrapping_add(s.rto + rtomin);
            } else if diff(current, s.resend_at) >= 0 {
                need = true;
                s.xmit += 1;
                if self.nodelay == 0 {
                    s.rto = s.rto.saturating_add(s.rto.max(self.rx_rto));
                } else {
                    let step = if self.nodelay < 2 { s.rto } else { self.rx_rto };
                    s.rto = s.rto.saturating_add(step / 2);
                }
                // Bounded, unlike the reference (which doubles up to 2^19 × RTO before
                // dead_link): a segment lost in a one-minute outage is resent a minute later,
                // not seven.
                s.rto = s.rto.min(RTO_MAX);
                s.resend_at = current.wrapping_add(s.rto);
                lost = true;
                self.retransmits = self.retransmits.wrapping_add(1);
            } else if s.fastack >= resent && (s.xmit <= self.fast_limit || self.fast_limit == 0) {
                need = true;
                s.xmit += 1;
                s.fastack = 0;
                s.resend_at = current.wrapping_add(s.rto);
                change = true;
                self.retransmits = self.retransmits.wrapping_add(1);
            }
            if need {
                s.ts = current;
                emit(scratch, OVERHEAD + s.data.len());
                Header {
                    conv: self.conv,
                    cmd: cmd::PUSH,
                    frg: s.frg,
                    wnd,
                    ts: s.ts,
                    sn: s.sn,
                    una: self.rcv_nxt,
                    len: s.data.len() as u32,
                }
                .write(scratch);
                scratch.extend_from_slice(&s.data);
                if s.xmit >= DEAD_LINK {
                    self.dead = true;
                }
            }
        }
        if !scratch.is_empty() {
            out(scratch);
            scratch.clear();
        }
        if change {
            let inflight = self.snd_nxt.wrapping_sub(self.snd_una);
            self.ssthresh = (inflight / 2).max(THRESH_MIN);
            self.cwnd = self.ssthresh.saturating_add(resent);
            self.incr = self.cwnd.saturating_mul(self.mss);
        }
        if lost {
            self.ssthresh = (cwnd / 2).max(THRESH_MIN);
            self.cwnd = 1;
            self.incr = self.mss;
        }
        if self.cwnd < 1 {
            self.cwnd = 1;
            self.incr = self.mss;
        }
    }

    /// Records the time without flushing: what [`Kcp::flush`] stamps segments with. A session
    /// without timer ticks while idle must call this before a flush.
    pub fn set_now(&mut self, now: u32) {
        self.current = now;
    }

    /// The clock tick (`ikcp_update`): records `now` and flushes when the interval is due.
    pub fn update(&mut self, now: u32, scratch: &mut Vec<u8>, out: &mut dyn FnMut(&[u8])) {
        self.current = now;
        if !self.updated {
            self.updated = true;
            self.ts_flush = now;
        }
        let mut slap = diff(now, self.ts_flush);
        if !(-10_000..10_000).contains(&slap) {
            self.ts_flush = now;
            slap = 0;
        }
        if slap >= 0 {
            self.ts_flush = self.ts_flush.wrapping_add(self.interval);
            if diff(now, self.ts_flush) >= 0 {
                self.ts_flush = now.wrapping_add(self.interval);
            }
            self.flush(scratch, out);
        }
    }

    /// When [`Kcp::update`] is next due (`ikcp_check`): `now` if at once, else the earlier of
    /// the flush tick and the first retransmission, never more than one interval away.
    pub fn check(&self, now: u32) -> u32 {
        if !self.updated {
            return now;
        }
        let mut ts_flush = self.ts_flush;
        if !(-10_000..10_000).contains(&diff(now, ts_flush)) {
            ts_flush = now;
        }
        if diff(now, ts_flush) >= 0 {
            return now;
        }
        let tm_flush = diff(ts_flush, now);
        let mut tm_packet = i32::MAX;
        for s in &self.snd_buf {
            let d = diff(s.resend_at, now);
            if d <= 0 {
                return now;
            }
            tm_packet = tm_packet.min(d);
        }
        let minimal = (tm_packet.min(tm_flush) as u32).min(self.interval);
        now.wrapping_add(minimal)
    }
}
