//! KCP (HP-Socket's ARQ transport). Mode 0: arbitrary datagrams into a session, with sends,
//! receives and updates between them: no panic, refusals are errors, nothing delivered over
//! the message bound. Mode 1: two sessions over a network the fuzzer controls (loss,
//! duplication, reordering, time jumps across the u32 wrap); every message arrives once and in
//! order, and once the network turns lossless every message arrives unless a side declared
//! the link dead.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::Input;
use shardnet_protocols::kcp::{Kcp, KcpConfig};
use std::collections::VecDeque;

fn config(inp: &mut Input) -> KcpConfig {
    let b = inp.byte();
    KcpConfig {
        nodelay: b % 3,
        interval: 10 + u32::from(inp.byte()) % 100,
        fast_resend: u32::from((b >> 2) % 4),
        no_congestion_control: b & 0x10 != 0,
        send_window: 1 + u16::from(inp.byte()),
        recv_window: 128 + u16::from(inp.byte()),
        mtu: 72 + usize::from(inp.u16()) % 1400,
        min_rto: 1 + u32::from(inp.byte()),
        fast_limit: u32::from(b >> 6) * 2,
        check_conv: false,
    }
}

struct Side {
    kcp: Kcp,
    out: VecDeque<Vec<u8>>,
    got: Vec<Vec<u8>>,
}

impl Side {
    fn update(&mut self, now: u32, scratch: &mut Vec<u8>) {
        let out = &mut self.out;
        self.kcp.update(now, scratch, &mut |d| out.push_back(d.to_vec()));
    }
    fn input(&mut self, now: u32, d: &[u8], scratch: &mut Vec<u8>) {
        self.kcp.input(now, d).expect("datagrams of the peer parse");
        let mut m = Vec::new();
        while self.kcp.recv(&mut m) {
            self.got.push(std::mem::take(&mut m));
        }
        let out = &mut self.out;
        self.kcp.flush(scratch, &mut |d| out.push_back(d.to_vec()));
    }
}

fn pair(inp: &mut Input) {
    let cfg = config(inp);
    let mut now = inp.u32();
    let mut a = Side {
        kcp: Kcp::new(1, &cfg),
        out: VecDeque::new(),
        got: Vec::new(),
    };
    let mut b = Side {
        kcp: Kcp::new(2, &cfg),
        out: VecDeque::new(),
        got: Vec::new(),
    };
    let (mut sent_a, mut sent_b) = (Vec::new(), Vec::new());
    let mut scratch = Vec::new();
    let mut ops = 0;
    while !inp.is_empty() && ops < 2000 {
        ops += 1;
        let op = inp.byte();
        match op % 10 {
            0 | 1 => {
                let m = inp.chunk().to_vec();
                let (s, sent) = if op % 10 == 0 { (&mut a, &mut sent_a) } else { (&mut b, &mut sent_b) };
                if s.kcp.send(&m).is_ok() {
                    sent.push(m);
                }
                let out = &mut s.out;
                s.kcp.flush(&mut scratch, &mut |d| out.push_back(d.to_vec()));
            }
            2 => {
                if let Some(d) = a.out.pop_front() {
                    b.input(now, &d, &mut scratch);
                }
            }
            3 => {
                if let Some(d) = b.out.pop_front() {
                    a.input(now, &d, &mut scratch);
                }
            }
            4 => drop(a.out.pop_front()),
            5 => drop(b.out.pop_front()),
            6 => {
                // Duplicate (odd) or move to the back (even).
                let q = if op & 16 == 0 { &mut a.out } else { &mut b.out };
                if let Some(d) = q.pop_front() {
                    if op & 32 != 0 {
                        q.push_front(d.clone());
                    }
                    q.push_back(d);
                }
            }
            _ => {
                now = now.wrapping_add(u32::from(inp.u16()));
                a.update(now, &mut scratch);
                b.update(now, &mut scratch);
            }
        }
        for (got, sent) in [(&b.got, &sent_a), (&a.got, &sent_b)] {
            assert!(got.len() <= sent.len(), "more messages than were sent");
            assert_eq!(&got[..], &sent[..got.len()], "lost, duplicated or reordered");
        }
    }
    // A lossless network until both sides are done (or a side gave the link up).
    for _ in 0..20_000 {
        if a.kcp.is_dead() || b.kcp.is_dead() {
            break;
        }
        if b.got.len() == sent_a.len() && a.got.len() == sent_b.len() && a.out.is_empty() && b.out.is_empty() && !a.kcp.needs_update() && !b.kcp.needs_update() {
            break;
        }
        while let Some(d) = a.out.pop_front() {
            b.input(now, &d, &mut scratch);
        }
        while let Some(d) = b.out.pop_front() {
            a.input(now, &d, &mut scratch);
        }
        let next = [a.kcp.check(now), b.kcp.check(now)]
            .into_iter()
            .min_by_key(|t| t.wrapping_sub(now))
            .unwrap();
        now = if next == now { now.wrapping_add(1) } else { next };
        a.update(now, &mut scratch);
        b.update(now, &mut scratch);
    }
    if !a.kcp.is_dead() && !b.kcp.is_dead() {
        assert_eq!(b.got, sent_a, "a's messages not all delivered");
        assert_eq!(a.got, sent_b, "b's messages not all delivered");
    }
}

fn raw(inp: &mut Input) {
    let cfg = config(inp);
    let mut now = inp.u32();
    let mut k = Kcp::new(inp.u32(), &cfg);
    let mut scratch = Vec::new();
    let mut sink = 0usize;
    let mut m = Vec::new();
    while !inp.is_empty() {
        match inp.byte() % 4 {
            0 => {
                let _ = k.input(now, inp.chunk());
            }
            1 => {
                let _ = k.send(inp.chunk());
            }
            2 => {
                now = now.wrapping_add(u32::from(inp.u16()));
                k.update(now, &mut scratch, &mut |d| {
                    assert!(d.len() <= cfg.mtu, "datagram over the MTU");
                    sink += d.len();
                });
            }
            _ => {
                if let Some(n) = k.peek_size() {
                    m.clear();
                    assert!(k.recv(&mut m));
                    assert_eq!(m.len(), n);
                }
            }
        }
    }
    let _ = sink;
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    if inp.byte() & 1 == 0 {
        raw(&mut inp);
    } else {
        pair(&mut inp);
    }
});
