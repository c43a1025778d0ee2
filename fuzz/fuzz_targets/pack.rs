//! Pack framing (HP-Socket's 4-byte header): whatever the reads, the messages and the error
//! are those of the whole input; no message exceeds `max_pack_size`; the decoder never holds
//! more than one header plus what actually arrived; an encoded stream decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{split, Input};
use shardnet_protocols::pack::{Flow, PackConfig, PackDecoder, PackError, HEADER_LEN};

#[derive(Debug, PartialEq)]
enum Ev {
    Msg(Vec<u8>),
    Err(PackError),
    Stop,
}

/// Feeds `pieces`; the callback stops after `stop_every` messages (0: never), and the rest of
/// that piece is fed again, as the component does after resuming.
fn run(cfg: &PackConfig, pieces: &[&[u8]], stop_every: usize) -> Vec<Ev> {
    let mut d = PackDecoder::new();
    let mut ev = Vec::new();
    let mut fed = 0usize;
    let mut n = 0usize;
    for p in pieces {
        fed += p.len();
        let mut msgs = Vec::new();
        let r = d.feed(cfg, p, &mut |m| {
            assert!(m.len() <= cfg.max_pack_size as usize, "message over max_pack_size");
            assert!(!m.is_empty() || cfg.allow_empty, "empty message delivered");
            msgs.push(m.to_vec());
            n += 1;
            if stop_every != 0 && n % stop_every == 0 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        });
        ev.extend(msgs.into_iter().map(Ev::Msg));
        assert!(d.buffered() <= HEADER_LEN + cfg.max_pack_size as usize);
        assert!(d.buffered() <= fed, "decoder holds more than arrived");
        match r {
            Ok(Flow::Continue) => {}
            // The input after a Stop is discarded: the connection is closing.
            Ok(Flow::Stop) => {
                ev.push(Ev::Stop);
                return ev;
            }
            Err(e) => {
                ev.push(Ev::Err(e));
                return ev;
            }
        }
    }
    ev
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let mode = inp.byte();
    let cfg = PackConfig {
        flag: inp.u16() & 0x3FF,
        max_pack_size: (u32::from(inp.u16()) & 0x3FFF) + 1,
        allow_empty: mode & 2 != 0,
    };
    let seed = inp.u64();
    let max_piece = (inp.byte() % 64) as usize;
    let stop_every = if mode & 4 != 0 { (inp.byte() % 4) as usize } else { 0 };
    if mode & 1 == 0 {
        // Raw bytes from a peer.
        let stream = inp.rest();
        let whole = run(&cfg, &[stream], 0);
        let pieces = run(&cfg, &split(stream, seed, max_piece), 0);
        assert_eq!(whole, pieces, "events depend on how the bytes were split");
        if stop_every != 0 {
            // Stopping after message k delivers exactly the first k messages.
            let stopped = run(&cfg, &split(stream, seed, max_piece), stop_every);
            let k = stopped.iter().filter(|e| matches!(e, Ev::Msg(_))).count();
            assert_eq!(&stopped[..k], &whole[..k]);
        }
    } else {
        // Messages encoded by the sender's rules decode to themselves.
        let mut msgs = Vec::new();
        let mut wire = Vec::new();
        while !inp.is_empty() {
            let m = inp.chunk();
            if let Some(h) = cfg.header(m.len()) {
                wire.extend_from_slice(&h);
                wire.extend_from_slice(m);
                msgs.push(Ev::Msg(m.to_vec()));
            }
        }
        assert_eq!(run(&cfg, &split(&wire, seed, max_piece), 0), msgs);
    }
});
