//! HP-Socket's ARQ session (12-byte handshake, then KCP). Mode 0: a handshake packet decodes
//! to what encodes back to it, and arbitrary datagrams and ticks into a session never panic
//! and end it only with one of its errors. Mode 1: a client and a server session over a
//! network the fuzzer controls: the handshake completes once the network is lossless (or
//! times out as configured), and every message arrives once and in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::Input;
use shardnet_protocols::arq::handshake::{Packet, LEN};
use shardnet_protocols::arq::{ArqConfig, ArqError, ArqSession, Received};
use std::collections::VecDeque;

struct Side {
    s: ArqSession,
    out: VecDeque<Vec<u8>>,
    got: Vec<Vec<u8>>,
    err: Option<ArqError>,
    ready_events: u32,
}

impl Side {
    fn new(cfg: ArqConfig, conv: u32, now: u32) -> Side {
        Side {
            s: ArqSession::new(cfg, conv, now),
            out: VecDeque::new(),
            got: Vec::new(),
            err: None,
            ready_events: 0,
        }
    }
    fn tick(&mut self, now: u32, scratch: &mut Vec<u8>) {
        if self.err.is_some() {
            return;
        }
        let out = &mut self.out;
        if let Err(e) = self.s.tick(now, scratch, &mut |d| out.push_back(d.to_vec())) {
            self.err = Some(e);
        }
    }
    fn input(&mut self, now: u32, d: &[u8], scratch: &mut Vec<u8>) {
        if self.err.is_some() {
            return;
        }
        let (out, got) = (&mut self.out, &mut self.got);
        match self.s.on_datagram(now, d, scratch, &mut |d| out.push_back(d.to_vec()), &mut |m| {
            got.push(m.to_vec());
            true
        }) {
            Ok(Received::Ready) => self.ready_events += 1,
            Ok(_) => {}
            Err(e) => self.err = Some(e),
        }
    }
}

fn pair(inp: &mut Input) {
    let cfg = ArqConfig::default();
    let mut now = inp.u32();
    let mut c = Side::new(cfg, 0x1000_0001, now);
    let mut s = Side::new(cfg, 0x2000_0002, now);
    let mut scratch = Vec::new();
    c.tick(now, &mut scratch);
    s.tick(now, &mut scratch);
    let (mut sent_c, mut sent_s) = (Vec::new(), Vec::new());
    let mut ops = 0;
    while !inp.is_empty() && ops < 2000 {
        ops += 1;
        let op = inp.byte();
        match op % 8 {
            0 | 1 => {
                let m = inp.chunk().to_vec();
                let (x, sent) = if op % 8 == 0 { (&mut c, &mut sent_c) } else { (&mut s, &mut sent_s) };
                if x.err.is_none() {
                    let out = &mut x.out;
                    match x.s.send(now, &m, &mut scratch, &mut |d| out.push_back(d.to_vec())) {
                        Ok(()) => sent.push(m),
                        Err(e) => assert_eq!(e, ArqError::NotReady),
                    }
                }
            }
            2 => {
                if let Some(d) = c.out.pop_front() {
                    s.input(now, &d, &mut scratch);
                }
            }
            3 => {
                if let Some(d) = s.out.pop_front() {
                    c.input(now, &d, &mut scratch);
                }
            }
            4 => drop(c.out.pop_front()),
            5 => drop(s.out.pop_front()),
            _ => {
                now = now.wrapping_add(u32::from(inp.byte()) * 8);
                c.tick(now, &mut scratch);
                s.tick(now, &mut scratch);
            }
        }
        for (got, sent) in [(&s.got, &sent_c), (&c.got, &sent_s)] {
            assert!(got.len() <= sent.len(), "more messages than were sent");
            assert_eq!(&got[..], &sent[..got.len()], "lost, duplicated or reordered");
        }
        assert!(c.ready_events <= 1 && s.ready_events <= 1, "ready twice");
    }
    // Lossless from here on.
    for _ in 0..20_000 {
        if c.err.is_some() || s.err.is_some() {
            break;
        }
        let done = c.s.is_ready()
            && s.s.is_ready()
            && s.got.len() == sent_c.len()
            && c.got.len() == sent_s.len()
            && c.out.is_empty()
            && s.out.is_empty()
            && c.s.next_deadline(now).is_none()
            && s.s.next_deadline(now).is_none();
        if done {
            break;
        }
        while let Some(d) = c.out.pop_front() {
            s.input(now, &d, &mut scratch);
        }
        while let Some(d) = s.out.pop_front() {
            c.input(now, &d, &mut scratch);
        }
        let next = [c.s.next_deadline(now), s.s.next_deadline(now)]
            .into_iter()
            .flatten()
            .min_by_key(|t| t.wrapping_sub(now))
            .unwrap_or(now.wrapping_add(1));
        now = if next == now { now.wrapping_add(1) } else { next };
        c.tick(now, &mut scratch);
        s.tick(now, &mut scratch);
    }
    for e in [c.err, s.err].into_iter().flatten() {
        // A lossy handshake may time out, and a link given up is dead; nothing else.
        assert!(matches!(e, ArqError::Timeout | ArqError::DeadLink), "{e:?}");
    }
    if c.err.is_none() && s.err.is_none() {
        assert!(c.s.is_ready() && s.s.is_ready(), "handshake never completed");
        assert_eq!(s.got, sent_c);
        assert_eq!(c.got, sent_s);
    }
}

fn raw(inp: &mut Input) {
    let p = inp.bytes(LEN);
    if let Some(pk) = Packet::decode(p) {
        assert_eq!(&pk.encode()[..], p, "handshake packet does not encode back");
    }
    let mut now = inp.u32();
    let mut x = Side::new(ArqConfig::default(), inp.u32(), now);
    let mut scratch = Vec::new();
    while !inp.is_empty() && x.err.is_none() {
        match inp.byte() % 3 {
            0 => {
                let d = inp.chunk();
                x.input(now, d, &mut scratch);
            }
            1 => {
                // A well-formed handshake packet with fuzzed fields.
                let pk = Packet {
                    complete: inp.bool(),
                    self_conv: inp.u32(),
                    peer_conv: if inp.bool() { x.s.self_conv() } else { inp.u32() },
                };
                x.input(now, &pk.encode(), &mut scratch);
            }
            _ => {
                now = now.wrapping_add(u32::from(inp.u16()));
                x.tick(now, &mut scratch);
            }
        }
        for m in &x.got {
            assert!(m.len() <= ArqConfig::default().max_message);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    if inp.byte() & 1 == 0 {
        raw(&mut inp);
    } else {
        pair(&mut inp);
    }
});
