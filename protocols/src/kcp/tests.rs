//! KCP with a fake clock: two sessions over a simulated link with latency and loss.

use super::segment::{cmd, Header, OVERHEAD};
use super::*;

/// A deterministic xorshift generator for the link's losses.
struct Rng(u64);

impl Rng {
    fn chance(&mut self, p: f64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f64 / 10_000.0 < p
    }
}

/// One direction of the link: datagrams in flight with their arrival time.
#[derive(Default)]
struct Wire {
    flight: Vec<(u32, Vec<u8>)>,
}

struct Sim {
    a: Kcp,
    b: Kcp,
    ab: Wire,
    ba: Wire,
    now: u32,
    latency: u32,
    loss: f64,
    rng: Rng,
    scratch: Vec<u8>,
    datagrams: usize,
}

impl Sim {
    fn new(cfg: &KcpConfig, loss: f64) -> Sim {
        Sim {
            a: Kcp::new(0x1111, cfg),
            b: Kcp::new(0x2222, cfg),
            ab: Wire::default(),
            ba: Wire::default(),
            now: 1_000,
            latency: 15,
            loss,
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            scratch: Vec::new(),
            datagrams: 0,
        }
    }

    /// Advances 1 ms: delivers what arrived, updates both sides when due, collects messages.
    fn step(&mut self, got_a: &mut Vec<Vec<u8>>, got_b: &mut Vec<Vec<u8>>) {
        self.now += 1;
        let now = self.now;
        for (wire, to, got) in [
            (&mut self.ab, &mut self.b, &mut *got_b),
            (&mut self.ba, &mut self.a, &mut *got_a),
        ] {
            let (due, rest): (Vec<_>, Vec<_>) =
                wire.flight.drain(..).partition(|(at, _)| *at <= now);
            wire.flight = rest;
            for (_, d) in due {
                to.input(now, &d).expect("valid datagram");
            }
            let mut m = Vec::new();
            while to.recv(&mut m) {
                got.push(std::mem::take(&mut m));
            }
        }
        for (from, wire) in [(&mut self.a, &mut self.ab), (&mut self.b, &mut self.ba)] {
            if from.check(now) == now {
                let (latency, loss, rng, count) =
                    (self.latency, self.loss, &mut self.rng, &mut self.datagrams);
                from.update(now, &mut self.scratch, &mut |d: &[u8]| {
                    assert!(d.len() <= 1432, "datagram over the MTU");
                    *count += 1;
                    if !rng.chance(loss) {
                        wire.flight.push((now + latency, d.to_vec()));
                    }
                });
            }
        }
    }
}

fn messages(seed: usize, max: usize) -> Vec<Vec<u8>> {
    // Every size class once in a while, and one message of the largest size.
    let sizes = [0usize, 1, 100, 1407, 1408, 1409, 5000, 4096, 3];
    (0..60)
        .map(|i| {
            let n = if i == 7 {
                max
            } else {
                sizes[(i + seed) % sizes.len()]
            };
            (0..n).map(|j| (i * 31 + j * 7 + seed) as u8).collect()
        })
        .collect()
}

fn exchange(cfg: KcpConfig, loss: f64, limit_ms: u32) -> (u32, usize) {
    let mut sim = Sim::new(&cfg, loss);
    let max = sim.a.max_message();
    let (to_b, to_a) = (messages(0, max), messages(5, max));
    for m in &to_b {
        sim.a.send(m).unwrap();
    }
    for m in &to_a {
        sim.b.send(m).unwrap();
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let start = sim.now;
    while (got_a.len() < to_a.len() || got_b.len() < to_b.len()) && sim.now - start < limit_ms {
        sim.step(&mut got_a, &mut got_b);
    }
    assert_eq!(got_b.len(), to_b.len(), "a→b incomplete at {loss} loss");
    assert_eq!(got_a.len(), to_a.len(), "b→a incomplete at {loss} loss");
    assert!(got_b == to_b && got_a == to_a, "bytes or order differ");
    assert!(!sim.a.is_dead() && !sim.b.is_dead());
    (sim.now - start, sim.datagrams)
}

#[test]
fn messages_arrive_once_in_order_without_loss() {
    exchange(KcpConfig::default(), 0.0, 60_000);
}

#[test]
fn messages_arrive_once_in_order_under_loss() {
    for loss in [0.1, 0.2, 0.35] {
        exchange(KcpConfig::default(), loss, 900_000);
    }
    // The fast profile (nodelay 1, interval 10, fast resend 2, no congestion control).
    let fast = KcpConfig {
        nodelay: 1,
        interval: 10,
        fast_resend: 2,
        no_congestion_control: true,
        ..KcpConfig::default()
    };
    let (fast_ms, _) = exchange(fast, 0.2, 900_000);
    let (slow_ms, _) = exchange(KcpConfig::default(), 0.2, 900_000);
    assert!(
        fast_ms < slow_ms,
        "fast {fast_ms} ms vs default {slow_ms} ms"
    );
}

#[test]
fn segment_header_golden_bytes() {
    // send("hi") then a flush: one PUSH segment, every field known. (As in ikcp.c, the very
    // first flush opens the congestion window to 1 and sends nothing queued before it.)
    let mut k = Kcp::new(0x0403_0201, &KcpConfig::default());
    let mut scratch = Vec::new();
    let mut out = Vec::new();
    k.update(0x0A0B_0C0D, &mut scratch, &mut |d: &[u8]| {
        out.push(d.to_vec())
    });
    assert!(out.is_empty());
    k.send(b"hi").unwrap();
    k.flush(&mut scratch, &mut |d: &[u8]| out.push(d.to_vec()));
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0],
        [
            0x01, 0x02, 0x03, 0x04, // conv
            81,   // PUSH
            0,    // frg
            0x00, 0x02, // wnd 512 free
            0x0D, 0x0C, 0x0B, 0x0A, // ts
            0, 0, 0, 0, // sn
            0, 0, 0, 0, // una
            2, 0, 0, 0, // len
            b'h', b'i',
        ]
    );
    // The peer acknowledges it: an ACK echoing sn 0 and the ts.
    let mut peer = Kcp::new(7, &KcpConfig::default());
    peer.input(5, &out[0]).unwrap();
    let mut acks = Vec::new();
    peer.update(5, &mut scratch, &mut |d: &[u8]| acks.push(d.to_vec()));
    let h = Header::read(&acks[0]).unwrap();
    assert_eq!(acks[0].len(), OVERHEAD);
    assert_eq!(
        (h.conv, h.cmd, h.sn, h.ts, h.una, h.wnd),
        (7, cmd::ACK, 0, 0x0A0B_0C0D, 1, 511)
    );
    let mut m = Vec::new();
    assert!(peer.recv(&mut m));
    assert_eq!(m, b"hi");
    // HP's relaxed conv: the ack's conv (7) is not ours, and it is taken.
    k.input(0x0A0B_0C20, &acks[0]).unwrap();
    assert_eq!(k.waiting(), 0);
}

#[test]
fn bad_input_is_refused_cleanly() {
    let cfg = KcpConfig::default();
    let mut k = Kcp::new(1, &cfg);
    assert_eq!(k.input(0, &[0; 23]), Err(KcpError::Truncated));
    let mut d = Vec::new();
    Header {
        conv: 1,
        cmd: cmd::PUSH,
        frg: 0,
        wnd: 1,
        ts: 0,
        sn: 0,
        una: 0,
        len: 10,
    }
    .write(&mut d);
    d.extend_from_slice(b"short");
    assert_eq!(k.input(0, &d), Err(KcpError::Truncated));
    d.truncate(OVERHEAD);
    d[20..24].copy_from_slice(&0u32.to_le_bytes());
    d[4] = 99;
    assert_eq!(k.input(0, &d), Err(KcpError::BadCommand));
    // A length field of 4 GiB is not trusted for an allocation.
    d[4] = cmd::PUSH;
    d[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(k.input(0, &d), Err(KcpError::Truncated));
    // Stock KCP checks the conv.
    let mut strict = Kcp::new(
        2,
        &KcpConfig {
            check_conv: true,
            ..cfg
        },
    );
    d[20..24].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(strict.input(0, &d), Err(KcpError::WrongConv));
    // A message needing 128 fragments is refused; 127 is the largest.
    let max = k.max_message();
    assert_eq!(max, 127 * 1408);
    assert!(k.send(&vec![0; max]).is_ok());
    assert_eq!(k.send(&vec![0; max + 1]), Err(KcpError::TooLarge));
    // Out-of-window sequence numbers are dropped without being stored.
    let mut far = Vec::new();
    Header {
        conv: 1,
        cmd: cmd::PUSH,
        frg: 0,
        wnd: 1,
        ts: 0,
        sn: 100_000,
        una: 0,
        len: 0,
    }
    .write(&mut far);
    let mut r = Kcp::new(1, &cfg);
    r.input(0, &far).unwrap();
    assert!(r.is_idle());
}

#[test]
fn drop_unsent_keeps_a_started_message_whole() {
    let cfg = KcpConfig {
        send_window: 2,
        no_congestion_control: true,
        ..KcpConfig::default()
    };
    let mut a = Kcp::new(1, &cfg);
    let mut b = Kcp::new(2, &cfg);
    a.send(&[1; 3000]).unwrap(); // 3 fragments; the window lets 2 leave
    a.send(&[2; 10]).unwrap();
    a.send(&[3; 10]).unwrap();
    let mut scratch = Vec::new();
    let mut wire = Vec::new();
    a.update(0, &mut scratch, &mut |d: &[u8]| wire.push(d.to_vec()));
    assert_eq!(a.waiting(), 5);
    // The third fragment of the first message stays; the two later messages go.
    assert_eq!(a.drop_unsent(), 2);
    assert_eq!(a.waiting(), 3);
    let mut got = Vec::new();
    for t in 1..2_000 {
        for d in wire.drain(..) {
            b.input(t, &d).unwrap();
        }
        let mut m = Vec::new();
        while b.recv(&mut m) {
            got.push(std::mem::take(&mut m));
        }
        b.update(t, &mut scratch, &mut |d: &[u8]| {
            a.input(t, d).unwrap();
        });
        a.update(t, &mut scratch, &mut |d: &[u8]| wire.push(d.to_vec()));
    }
    assert_eq!(got, vec![vec![1u8; 3000]]);
    // Nothing started: everything queued is dropped.
    a.send(&[4; 10]).unwrap();
    assert_eq!(a.drop_unsent(), 1);
}

#[test]
fn a_silent_peer_makes_the_link_dead() {
    // nodelay 1 backs off by half an RTO per resend; the default doubles (as in ikcp.c, but
    // bounded at 60 s here) and takes about 13 minutes of silence to reach 20 sends, which is
    // why HP relies on heartbeats for liveness.
    let cfg = KcpConfig {
        nodelay: 1,
        ..KcpConfig::default()
    };
    let mut k = Kcp::new(1, &cfg);
    k.send(b"lost").unwrap();
    let mut scratch = Vec::new();
    let mut sent = 0;
    let mut t = 0;
    while !k.is_dead() && t < 10_000_000 {
        k.update(t, &mut scratch, &mut |_| sent += 1);
        t = k.check(t).max(t + 1);
    }
    assert!(k.is_dead());
    assert_eq!(sent, 20);
}

#[test]
fn check_schedules_the_next_update() {
    let mut k = Kcp::new(1, &KcpConfig::default());
    let mut scratch = Vec::new();
    assert_eq!(k.check(500), 500);
    k.update(500, &mut scratch, &mut |_| {});
    assert_eq!(k.check(500), 560); // the 60 ms interval
    k.send(b"x").unwrap();
    k.update(560, &mut scratch, &mut |_| {});
    // The segment's first retransmission is due after rto (200) + rto/8: the tick comes first.
    assert_eq!(k.check(561), 620);
    // An idle session across a clock wrap still asks for its tick.
    let mut w = Kcp::new(1, &KcpConfig::default());
    w.update(u32::MAX - 10, &mut scratch, &mut |_| {});
    assert_eq!(w.check(u32::MAX - 10), (u32::MAX - 10).wrapping_add(60));
}

#[test]
fn forged_ack_timestamps_do_not_break_the_rto() {
    // The peer echoes whatever `ts` it likes in an ACK: the RTT arithmetic stays bounded.
    let cfg = KcpConfig::default();
    let mut k = Kcp::new(1, &cfg);
    let mut scratch = Vec::new();
    k.update(1_000, &mut scratch, &mut |_| {});
    k.send(b"x").unwrap();
    k.flush(&mut scratch, &mut |_| {});
    for ts in [0u32, 1, 0x8000_0001, u32::MAX, 999] {
        let mut d = Vec::new();
        Header {
            conv: 1,
            cmd: cmd::ACK,
            frg: 0,
            wnd: 128,
            ts,
            sn: 0,
            una: 0,
            len: 0,
        }
        .write(&mut d);
        k.input(1_000 + (ts % 7), &d).unwrap();
    }
    assert_eq!(k.waiting(), 0);
    // A later message is sent with a timeout within KCP's bounds.
    k.send(b"y").unwrap();
    k.update(2_000, &mut scratch, &mut |_| {});
    let next = k.check(2_001);
    assert!(next > 2_001 && next <= 2_001 + 60, "{next}");
}

#[test]
fn retransmission_back_off_is_bounded() {
    // Found by the `kcp` fuzz target: after a long outage the reference's doubling had pushed
    // the next resend minutes away, so a link that came back stayed silent. Here no resend
    // waits more than 60 s (+ one interval of timer granularity).
    let mut k = Kcp::new(1, &KcpConfig::default());
    k.send(b"lost").unwrap();
    let mut scratch = Vec::new();
    let mut sends = Vec::new();
    let mut t: u32 = 4_000_000_000; // across the u32 wrap too
    for _ in 0..100_000 {
        let mut n = 0;
        k.update(t, &mut scratch, &mut |_| n += 1);
        if n > 0 {
            sends.push(t);
        }
        if k.is_dead() {
            break;
        }
        let next = k.check(t);
        t = if next == t { t.wrapping_add(1) } else { next };
    }
    assert!(k.is_dead(), "{} sends", sends.len());
    assert_eq!(sends.len(), 20);
    let gaps: Vec<u32> = sends.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    assert!(gaps.iter().all(|&g| g <= 60_000 + 60), "{gaps:?}");
    assert!(
        gaps.iter().filter(|&&g| g >= 60_000).count() >= 5,
        "{gaps:?}"
    );
}
