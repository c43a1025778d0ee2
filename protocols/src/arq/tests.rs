//! The ARQ handshake and session with a fake clock: golden packets, every state's answer, the
//! timeout, resets, and two sessions exchanging messages over a lossy simulated link.

use super::handshake::{ConvIds, Packet, LEN};
use super::*;

fn pkt(complete: bool, s: u32, p: u32) -> [u8; LEN] {
    Packet {
        complete,
        self_conv: s,
        peer_conv: p,
    }
    .encode()
}

fn collect(v: &mut Vec<Vec<u8>>) -> impl FnMut(&[u8]) + '_ {
    |d: &[u8]| v.push(d.to_vec())
}

#[test]
fn handshake_packet_golden_bytes() {
    assert_eq!(
        pkt(false, 0x1122_3344, 0),
        [0x4F, 0xBB, 0x01, 0x00, 0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0]
    );
    assert_eq!(
        pkt(true, 1, 0xA0B0_C0D0),
        [0x4F, 0xBB, 0x01, 0x01, 1, 0, 0, 0, 0xD0, 0xC0, 0xB0, 0xA0]
    );
    let p = Packet::decode(&pkt(true, 5, 6)).unwrap();
    assert_eq!((p.complete, p.self_conv, p.peer_conv), (true, 5, 6));
    // Wrong magic, command, flag bits or length.
    let mut b = pkt(false, 1, 2);
    b[0] = 0x4E;
    assert_eq!(Packet::decode(&b), None);
    let mut b = pkt(false, 1, 2);
    b[2] = 2;
    assert_eq!(Packet::decode(&b), None);
    let mut b = pkt(false, 1, 2);
    b[3] = 0x02;
    assert_eq!(Packet::decode(&b), None);
    assert_eq!(Packet::decode(&pkt(false, 1, 2)[..11]), None);
    // Conv ids: a counter, 0 skipped.
    let mut ids = ConvIds::new(u32::MAX - 1);
    assert_eq!((ids.next(), ids.next(), ids.next()), (u32::MAX, 1, 2));
}

#[test]
fn handshake_states_answer_like_hp() {
    let cfg = ArqConfig::default();
    let mut s = ArqSession::new(cfg, 100, 0);
    let mut scratch = Vec::new();
    let mut sent = Vec::new();
    // Created: {0, self, 0} at once, then back-off 60, 120, … ms.
    s.tick(0, &mut scratch, &mut collect(&mut sent)).unwrap();
    assert_eq!(sent, vec![pkt(false, 100, 0).to_vec()]);
    s.tick(59, &mut scratch, &mut collect(&mut sent)).unwrap();
    assert_eq!(sent.len(), 1);
    s.tick(60, &mut scratch, &mut collect(&mut sent)).unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(s.next_deadline(60), Some(180));
    // The peer's {0, 200, 0}: peer learnt, answered at once with {0, 100, 200}.
    sent.clear();
    let r = s
        .on_datagram(
            70,
            &pkt(false, 200, 0),
            &mut scratch,
            &mut collect(&mut sent),
            &mut |_| true,
        )
        .unwrap();
    assert_eq!(r, Received::Handshake);
    assert_eq!(sent, vec![pkt(false, 100, 200).to_vec()]);
    assert!(!s.is_ready());
    // The peer's {0, 200, 100}: ready (on_handshake); the peer is not complete yet.
    sent.clear();
    let r = s
        .on_datagram(
            80,
            &pkt(false, 200, 100),
            &mut scratch,
            &mut collect(&mut sent),
            &mut |_| true,
        )
        .unwrap();
    assert_eq!(r, Received::Ready);
    assert!(s.is_ready());
    // The next tick sends {1, 100, 200} (the peer has not been seen complete from this state).
    s.tick(200, &mut scratch, &mut collect(&mut sent)).unwrap();
    assert!(sent.contains(&pkt(true, 100, 200).to_vec()));
    // A ready side that sees flag 1 marks the peer complete and answers {1, self, peer} at once
    // (even within its back-off).
    sent.clear();
    s.on_datagram(
        300,
        &pkt(true, 200, 100),
        &mut scratch,
        &mut collect(&mut sent),
        &mut |_| true,
    )
    .unwrap();
    assert_eq!(sent, vec![pkt(true, 100, 200).to_vec()]);
    // Complete: ticks no longer send handshake packets, and the timeout no longer applies.
    sent.clear();
    s.tick(6_000, &mut scratch, &mut collect(&mut sent))
        .unwrap();
    assert!(sent.iter().all(|d| d.len() != LEN));
    // A ready side: another self conv, or a peer conv that is not ours, is a reset; a fresh
    // handshake from another conv is a new conversation (the peer restarted).
    for (bad, want) in [
        (pkt(false, 201, 100), ArqError::Reset),
        (pkt(false, 200, 101), ArqError::Reset),
        (pkt(true, 201, 0), ArqError::Reset),
        (pkt(false, 201, 0), ArqError::NewConversation),
    ] {
        let mut t = ArqSession::new(cfg, 100, 0);
        t.on_datagram(
            1,
            &pkt(false, 200, 100),
            &mut scratch,
            &mut |_| {},
            &mut |_| true,
        )
        .unwrap();
        assert!(t.is_ready());
        assert_eq!(
            t.on_datagram(2, &bad, &mut scratch, &mut |_| {}, &mut |_| true),
            Err(want)
        );
    }
    // The peer's own fresh handshake again: a late copy within 2 × handshake_timeout is
    // answered, later it is a restarted peer.
    let mut t = ArqSession::new(cfg, 100, 0);
    t.on_datagram(
        1,
        &pkt(false, 200, 100),
        &mut scratch,
        &mut |_| {},
        &mut |_| true,
    )
    .unwrap();
    let late = 2 * cfg.handshake_timeout;
    let mut answer = Vec::new();
    t.on_datagram(
        late,
        &pkt(false, 200, 0),
        &mut scratch,
        &mut collect(&mut answer),
        &mut |_| true,
    )
    .unwrap();
    assert_eq!(answer, vec![pkt(true, 100, 200).to_vec()]);
    assert_eq!(
        t.on_datagram(
            late + 1,
            &pkt(false, 200, 0),
            &mut scratch,
            &mut |_| {},
            &mut |_| true
        ),
        Err(ArqError::NewConversation)
    );
    // Handshaking: a different self than the one learnt is a new conversation when fresh,
    // a reset otherwise; a wrong non-zero peer resets.
    let mut t = ArqSession::new(cfg, 100, 0);
    t.on_datagram(
        1,
        &pkt(false, 200, 0),
        &mut scratch,
        &mut |_| {},
        &mut |_| true,
    )
    .unwrap();
    assert_eq!(
        t.on_datagram(
            2,
            &pkt(false, 201, 300),
            &mut scratch,
            &mut |_| {},
            &mut |_| true
        ),
        Err(ArqError::Reset)
    );
    let mut t = ArqSession::new(cfg, 100, 0);
    t.on_datagram(
        1,
        &pkt(false, 200, 0),
        &mut scratch,
        &mut |_| {},
        &mut |_| true,
    )
    .unwrap();
    assert_eq!(
        t.on_datagram(
            2,
            &pkt(false, 201, 0),
            &mut scratch,
            &mut |_| {},
            &mut |_| true
        ),
        Err(ArqError::NewConversation)
    );
    let mut t = ArqSession::new(cfg, 100, 0);
    assert_eq!(
        t.on_datagram(
            2,
            &pkt(false, 200, 7),
            &mut scratch,
            &mut |_| {},
            &mut |_| true
        ),
        Err(ArqError::Reset)
    );
    // Lengths: 12 is a handshake, ≥ 24 KCP (ignored before ready), anything else an error.
    let mut t = ArqSession::new(cfg, 100, 0);
    for len in [1usize, 11, 13, 16, 23] {
        assert_eq!(
            t.on_datagram(2, &vec![0; len], &mut scratch, &mut |_| {}, &mut |_| true),
            Err(ArqError::InvalidData)
        );
    }
    assert_eq!(
        t.on_datagram(2, &[0; 30], &mut scratch, &mut |_| {}, &mut |_| true),
        Ok(Received::Ignored)
    );
    assert_eq!(
        t.on_datagram(2, &[0; 12], &mut scratch, &mut |_| {}, &mut |_| true),
        Err(ArqError::InvalidData)
    );
    assert_eq!(
        t.send(0, b"x", &mut scratch, &mut |_| {}),
        Err(ArqError::NotReady)
    );
}

#[test]
fn handshake_times_out() {
    let mut s = ArqSession::new(ArqConfig::default(), 1, 1_000);
    let mut scratch = Vec::new();
    let mut n = 0;
    let mut t = 1_000;
    let err = loop {
        match s.tick(t, &mut scratch, &mut |_| n += 1) {
            Ok(()) => t = s.next_deadline(t).expect("handshaking"),
            Err(e) => break e,
        }
    };
    assert_eq!(err, ArqError::Timeout);
    assert_eq!(t, 1_000 + 5_001);
    // 0, 60, 180, 360, 600, 900, 1260, 1680, 2160, 2700, 3300, 3960, 4680 (+2000 cap): 13 sends.
    assert_eq!(n, 13);
    // Ready but never seeing the peer's flag 1 also times out.
    let mut r = ArqSession::new(ArqConfig::default(), 1, 0);
    r.on_datagram(1, &pkt(false, 2, 1), &mut scratch, &mut |_| {}, &mut |_| {
        true
    })
    .unwrap();
    assert!(r.is_ready());
    assert_eq!(
        r.tick(5_001, &mut scratch, &mut |_| {}),
        Err(ArqError::Timeout)
    );
}

/// Client and server sessions over a simulated link (latency 20 ms, loss both ways).
fn run(loss_per_mille: u64, msgs: usize) -> u32 {
    let cfg = ArqConfig::default();
    let mut c = ArqSession::new(cfg, 0x1000, 0);
    let mut s = ArqSession::new(cfg, 0x2000, 5);
    let mut wires: [Vec<(u32, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut scratch = Vec::new();
    let want: Vec<Vec<u8>> = (0..msgs)
        .map(|i| (0..(i * 37) % 4097).map(|j| (i + j) as u8).collect())
        .collect();
    let mut sent = 0;
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut echoed: Vec<Vec<u8>> = Vec::new();
    let mut t = 0u32;
    while (got.len() < msgs || echoed.len() < msgs) && t < 600_000 {
        t += 1;
        for (side, wire_in, wire_out) in [(0usize, 1usize, 0usize), (1, 0, 1)] {
            let (me, inbox) = if side == 0 {
                (&mut c, &mut wires[wire_in])
            } else {
                (&mut s, &mut wires[wire_in])
            };
            let due: Vec<Vec<u8>> = {
                let (d, rest): (Vec<_>, Vec<_>) = inbox.drain(..).partition(|(at, _)| *at <= t);
                *inbox = rest;
                d.into_iter().map(|(_, b)| b).collect()
            };
            let mut outgoing = Vec::new();
            let mut delivered = Vec::new();
            for d in due {
                me.on_datagram(t, &d, &mut scratch, &mut collect(&mut outgoing), &mut |m| {
                    delivered.push(m.to_vec());
                    true
                })
                .expect("session error");
            }
            if side == 1 {
                // The server echoes.
                for m in &delivered {
                    me.send(t, m, &mut scratch, &mut collect(&mut outgoing))
                        .unwrap();
                }
                got.extend(delivered);
            } else {
                echoed.extend(delivered);
                while me.is_ready() && sent < msgs && me.waiting() < 64 {
                    me.send(t, &want[sent], &mut scratch, &mut collect(&mut outgoing))
                        .unwrap();
                    sent += 1;
                }
            }
            if me.next_deadline(t) == Some(t) || t.is_multiple_of(60) {
                me.tick(t, &mut scratch, &mut collect(&mut outgoing))
                    .expect("tick error");
            }
            for d in outgoing {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if rng % 1000 >= loss_per_mille {
                    wires[wire_out].push((t + 20, d));
                }
            }
        }
    }
    assert_eq!(got, want, "server side at {loss_per_mille}‰ loss");
    assert_eq!(echoed, want, "client side at {loss_per_mille}‰ loss");
    t
}

#[test]
fn sessions_exchange_messages_over_a_lossy_link() {
    let clean = run(0, 200);
    let lossy = run(150, 200);
    assert!(clean < lossy, "{clean} ms clean vs {lossy} ms lossy");
}

#[test]
fn received_message_limit_and_refusal() {
    // The peer allows 8 KiB messages, we allow 4 KiB: its 5000-byte message closes us.
    let big = ArqConfig {
        max_message: 8192,
        kcp: KcpConfig {
            no_congestion_control: true,
            ..KcpConfig::default()
        },
        ..ArqConfig::default()
    };
    let mut a = ArqSession::new(big, 1, 0);
    let mut b = ArqSession::new(ArqConfig::default(), 2, 0);
    let mut scratch = Vec::new();
    a.on_datagram(0, &pkt(true, 2, 1), &mut scratch, &mut |_| {}, &mut |_| {
        true
    })
    .unwrap();
    b.on_datagram(0, &pkt(true, 1, 2), &mut scratch, &mut |_| {}, &mut |_| {
        true
    })
    .unwrap();
    let mut wire = Vec::new();
    a.send(0, &[9; 5000], &mut scratch, &mut collect(&mut wire))
        .unwrap();
    assert_eq!(
        b.send(0, &[9; 5000], &mut scratch, &mut |_| {}),
        Err(ArqError::MessageTooLarge)
    );
    let mut res = Ok(Received::Handshake);
    for d in &wire {
        res = b.on_datagram(1, d, &mut scratch, &mut |_| {}, &mut |_| true);
        if res.is_err() {
            break;
        }
    }
    assert_eq!(res, Err(ArqError::MessageTooLarge));
    // A listener refusing a message ends the session.
    let mut c = ArqSession::new(ArqConfig::default(), 3, 0);
    c.on_datagram(0, &pkt(true, 1, 3), &mut scratch, &mut |_| {}, &mut |_| {
        true
    })
    .unwrap();
    let mut w2 = Vec::new();
    let mut a2 = ArqSession::new(ArqConfig::default(), 1, 0);
    a2.on_datagram(0, &pkt(true, 3, 1), &mut scratch, &mut |_| {}, &mut |_| {
        true
    })
    .unwrap();
    a2.send(0, b"no", &mut scratch, &mut collect(&mut w2))
        .unwrap();
    assert_eq!(
        c.on_datagram(1, &w2[0], &mut scratch, &mut |_| {}, &mut |_| false),
        Err(ArqError::Refused)
    );
    // HP's validity rules.
    assert!(ArqConfig::default().validate(1432).is_ok());
    assert!(ArqConfig::default().validate(1000).is_err());
    assert!(ArqConfig {
        max_message: 127 * 1408,
        ..ArqConfig::default()
    }
    .validate(1432)
    .is_err());
    assert!(ArqConfig {
        handshake_timeout: 60,
        ..ArqConfig::default()
    }
    .validate(1432)
    .is_err());
}
