//! The cross-node envelope (shardnet-cluster on NATS): whatever decodes re-encodes to the same
//! bytes (one encoding per envelope), text payloads are UTF-8, and every envelope built from
//! fuzzed fields decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::Input;
use shardnet_protocols::cluster::{Envelope, Target};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Envelope::decode(data) {
        assert_eq!(e.to_vec(), data, "decoded envelope encodes differently");
        if let Envelope::Send { text: true, payload, .. } | Envelope::Group { text: true, payload, .. } = e {
            assert!(std::str::from_utf8(payload).is_ok());
        }
    }
    let mut inp = Input::new(data);
    let kind = inp.byte() % 4;
    let text = inp.bool();
    let (a, b, c, d) = (inp.u16(), inp.u32(), inp.u64(), inp.u64());
    let except = inp.bool().then(|| Target { node: inp.u16(), epoch: inp.u32(), conn: inp.u64() });
    let raw = inp.rest();
    let s = String::from_utf8_lossy(raw);
    let payload = if text { s.as_bytes() } else { raw };
    let e = match kind {
        0 => Envelope::Send { origin: a, epoch: b, conn: c, text, payload },
        1 => Envelope::Group { origin: a, group: d, except, text, payload },
        2 => Envelope::Alive { node: a, epoch: b },
        _ => Envelope::Leaving { node: a, epoch: b },
    };
    let bytes = e.to_vec();
    assert_eq!(Envelope::decode(&bytes), Ok(e));
});
