//! HP-Socket's UDP control rules: datagram classification against the size limit, the
//! server's decisions for known and new peers under a connection limit (a model server keeps
//! the table), and the client's heartbeat clock (Dead only after `attempts` heartbeats went
//! unanswered, heartbeats never closer than the interval).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::Input;
use shardnet_protocols::udp::{
    classify, server_action, ClientHeartbeat, Datagram, Existing, HeartbeatAction, ServerAction,
    CLOSE_DATAGRAM,
};

fn server(inp: &mut Input) {
    let max = 1 + usize::from(inp.u16() % 2048);
    let max_conns = usize::from(inp.byte() % 8);
    let mut known = [false; 8];
    while !inp.is_empty() {
        let who = usize::from(inp.byte() % 8);
        let d: Vec<u8> = match inp.byte() % 4 {
            0 => Vec::new(),
            1 => CLOSE_DATAGRAM.to_vec(),
            2 => vec![0xAB; max + usize::from(inp.byte())],
            _ => inp.chunk().to_vec(),
        };
        let c = classify(&d, max);
        match c {
            Datagram::Heartbeat => assert!(d.is_empty()),
            Datagram::Close => assert_eq!(d, CLOSE_DATAGRAM),
            Datagram::Oversize(n) => assert!(n == d.len() && n > max),
            Datagram::Data(b) => assert!(b == &d[..] && !b.is_empty() && b.len() <= max && b != CLOSE_DATAGRAM),
        }
        let open = known.iter().filter(|k| **k).count();
        let what = match server_action(&d, max, known[who], open, max_conns) {
            ServerAction::Ignore => {
                assert!(!known[who] && matches!(c, Datagram::Oversize(_)));
                continue;
            }
            ServerAction::Refuse => {
                assert!(!known[who] && max_conns != 0 && open >= max_conns);
                continue;
            }
            ServerAction::Open(w) => {
                assert!(!known[who] && (max_conns == 0 || open < max_conns));
                known[who] = true;
                w
            }
            ServerAction::Existing(w) => {
                assert!(known[who]);
                w
            }
        };
        match what {
            Existing::AnswerHeartbeat => assert_eq!(c, Datagram::Heartbeat),
            Existing::PeerClosed => {
                assert_eq!(c, Datagram::Close);
                known[who] = false;
            }
            Existing::TooLarge(n) => {
                assert_eq!(c, Datagram::Oversize(n));
                known[who] = false;
            }
            Existing::Receive(b) => assert_eq!(c, Datagram::Data(b)),
        }
    }
}

fn heartbeat(inp: &mut Input) {
    let mut now = u64::from(inp.u32());
    let interval = u32::from(inp.u16());
    let attempts = u32::from(inp.byte() % 5);
    let mut hb = ClientHeartbeat::new(now, interval, attempts);
    let mut unanswered = 0u32;
    let mut last_send: Option<u64> = None;
    let mut dead = false;
    while !inp.is_empty() {
        let b = inp.byte();
        if b & 1 == 1 {
            hb.heard();
            unanswered = 0;
            continue;
        }
        now += u64::from(inp.u16());
        match hb.poll(now) {
            HeartbeatAction::Wait => {
                // Nothing due yet (or never again: detection off, or already dead).
                assert!(hb.next_deadline().is_none_or(|t| t > now));
            }
            HeartbeatAction::Send => {
                assert!(!dead, "heartbeat after dead");
                if let Some(t) = last_send {
                    assert!(interval != 0 && attempts != 0, "a second heartbeat with detection off");
                    assert!(now - t >= u64::from(interval), "heartbeats closer than the interval");
                }
                last_send = Some(now);
                unanswered += 1;
            }
            HeartbeatAction::Dead => {
                assert!(!dead && attempts != 0 && interval != 0);
                assert!(unanswered >= attempts, "dead after {unanswered} of {attempts}");
                dead = true;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    if inp.byte() & 1 == 0 {
        server(&mut inp);
    } else {
        heartbeat(&mut inp);
    }
});
