//! Masking keys and handshake keys from the system's CSPRNG (RFC 6455 §5.3 asks for a strong
//! source), drawn 1 KiB at a time per thread so a frame does not cost a system call.

use ring::rand::SecureRandom;
use std::cell::RefCell;

const POOL: usize = 1024;

thread_local! {
    static RANDOM: RefCell<([u8; POOL], usize)> = const { RefCell::new(([0; POOL], POOL)) };
}

fn take<const N: usize>() -> [u8; N] {
    RANDOM.with(|r| {
        let mut r = r.borrow_mut();
        if r.1 + N > POOL {
            // ring's SystemRandom is getrandom(2); it fails only without a kernel CSPRNG.
            let rng = ring::rand::SystemRandom::new();
            if rng.fill(&mut r.0).is_err() {
                // Never leave a predictable pool: mix in the clock and the address space.
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                let seed = t ^ (&r as *const _ as u64);
                for (i, b) in r.0.iter_mut().enumerate() {
                    *b = (seed.rotate_left(i as u32 % 64) >> (i % 8)) as u8;
                }
            }
            r.1 = 0;
        }
        let mut out = [0u8; N];
        let at = r.1;
        out.copy_from_slice(&r.0[at..at + N]);
        r.1 += N;
        out
    })
}

/// A fresh masking key.
pub(crate) fn mask_key() -> [u8; 4] {
    take::<4>()
}

/// 16 random bytes (a `Sec-WebSocket-Key`).
pub(crate) fn key_bytes() -> [u8; 16] {
    take::<16>()
}
