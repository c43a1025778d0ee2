//! The incremental UTF-8 validator of WebSocket text: fed any split of a text, it accepts
//! exactly what `std::str::from_utf8` accepts, and refuses no prefix of a valid text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardnet_fuzz::{split, Input};
use shardnet_protocols::ws::Utf8Validator;

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let seed = inp.u64();
    let max_piece = (inp.byte() % 8) as usize;
    let text = inp.rest();
    let valid = std::str::from_utf8(text).is_ok();
    let mut v = Utf8Validator::new();
    let mut ok = true;
    for p in split(text, seed, max_piece) {
        if !v.push(p) {
            ok = false;
            break;
        }
    }
    let accepted = ok && v.is_complete();
    assert_eq!(accepted, valid, "validator and std disagree");
    if !ok {
        // Refused early: the bytes so far cannot start a valid text.
        assert!(!valid);
    }
});
