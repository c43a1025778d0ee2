//! HP-Socket's encoding helpers: `SYS_Base64*`, `SYS_Url*`, and zlib / gzip
//! (`SYS_Compress*`, `SYS_Uncompress*`, `SYS_GZip*`, `SYS_GuessCompressBound`).
//!
//! HP's conventions: the caller passes the output buffer and its size in `*pdwDestLen`; the
//! return is 0 (done: `*pdwDestLen` = bytes written, and a NUL follows them when the buffer
//! has room), -3 (the input is not valid) or -5 (the buffer is too small: `*pdwDestLen` = the
//! size needed where it can be known, else 0). Z_STREAM_ERROR (-2) for parameters zlib
//! refuses. Decompression writes at most the buffer's size: a small input cannot make the
//! library allocate what it claims to expand to.

use crate::types::*;
use base64::Engine as _;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::ffi::c_int;

const OK: c_int = 0;
const STREAM_ERROR: c_int = -2;
const DATA_ERROR: c_int = -3;
const BUF_ERROR: c_int = -5;

/// The input slice (NULL with length 0 is empty).
///
/// # Safety
/// `src` has `len` readable bytes (or is NULL with `len` 0).
unsafe fn input<'a>(src: *const u8, len: DWORD) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if src.is_null() {
        return None;
    }
    // SAFETY: `len` readable bytes at `src`, per the caller.
    Some(unsafe { std::slice::from_raw_parts(src, len as usize) })
}

/// The input of a conversion, or the code to return: -3 for NULL with a length, -2 for a
/// NULL `dest_len`.
///
/// # Safety
/// As [`input`].
unsafe fn args<'a>(src: *const u8, len: DWORD, dest_len: *mut DWORD) -> Result<&'a [u8], c_int> {
    // SAFETY: per the caller.
    let s = unsafe { input(src, len) }.ok_or(DATA_ERROR)?;
    if dest_len.is_null() {
        return Err(STREAM_ERROR);
    }
    Ok(s)
}

/// Writes `out` to the caller's buffer by HP's rules.
///
/// # Safety
/// `dest` has `*dest_len` writable bytes (or is NULL); `dest_len` is valid.
unsafe fn output(out: &[u8], dest: *mut u8, dest_len: *mut DWORD) -> c_int {
    // SAFETY: valid per the caller.
    let room = unsafe { *dest_len } as usize;
    if dest.is_null() || room < out.len() {
        // SAFETY: as above.
        unsafe { *dest_len = out.len() as DWORD };
        return BUF_ERROR;
    }
    // SAFETY: `room` ≥ out.len() writable bytes at `dest`; a NUL only if there is room.
    unsafe {
        std::ptr::copy_nonoverlapping(out.as_ptr(), dest, out.len());
        if room > out.len() {
            *dest.add(out.len()) = 0;
        }
        *dest_len = out.len() as DWORD;
    }
    OK
}

/// `4 * ceil(n / 3)`.
#[no_mangle]
pub extern "C" fn SYS_GuessBase64EncodeBound(len: DWORD) -> DWORD {
    4 * len.div_ceil(3)
}

/// The decoded length of `src` (its padding and length; 0 when shorter than 2 bytes).
///
/// # Safety
/// `src` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_GuessBase64DecodeBound(src: *const u8, len: DWORD) -> DWORD {
    // SAFETY: per the contract.
    let Some(s) = (unsafe { input(src, len) }) else {
        return 0;
    };
    if s.len() < 2 {
        return 0;
    }
    let pad = s.iter().rev().take(2).take_while(|&&c| c == b'=').count();
    let n = (s.len() - pad) as DWORD;
    3 * (n / 4)
        + match n % 4 {
            2 => 1,
            3 => 2,
            _ => 0,
        }
}

/// Standard base64 with padding.
///
/// # Safety
/// `src` has `len` readable bytes; `dest` has `*dest_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_Base64Encode(
    src: *const u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
) -> c_int {
    crate::error::guard(STREAM_ERROR, || {
        // SAFETY: per the contract.
        let s = match unsafe { args(src, len, dest_len) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        let out = base64::engine::general_purpose::STANDARD.encode(s);
        // SAFETY: per the contract.
        unsafe { output(out.as_bytes(), dest, dest_len) }
    })
}

/// Standard base64 (padding optional; CR/LF between groups ignored as HP's); -3 for
/// anything else.
///
/// # Safety
/// `src` has `len` readable bytes; `dest` has `*dest_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_Base64Decode(
    src: *const u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
) -> c_int {
    crate::error::guard(STREAM_ERROR, || {
        // SAFETY: per the contract.
        let s = match unsafe { args(src, len, dest_len) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        let clean: Vec<u8> = s
            .iter()
            .copied()
            .filter(|c| *c != b'\r' && *c != b'\n')
            .collect();
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        match engine.decode(&clean) {
            // SAFETY: per the contract.
            Ok(out) => unsafe { output(&out, dest, dest_len) },
            Err(_) => {
                // SAFETY: valid per the contract.
                unsafe { *dest_len = 0 };
                DATA_ERROR
            }
        }
    })
}

fn url_safe(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'*')
}

/// The URL-encoded length of `src` (HP's rules: alphanumerics and `. - _ *` kept, space as
/// `+`, everything else `%XX`).
///
/// # Safety
/// `src` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_GuessUrlEncodeBound(src: *const u8, len: DWORD) -> DWORD {
    // SAFETY: per the contract.
    let Some(s) = (unsafe { input(src, len) }) else {
        return 0;
    };
    s.iter()
        .map(|&c| if url_safe(c) || c == b' ' { 1 } else { 3 })
        .sum()
}

/// The URL-decoded length of `src` (two bytes fewer per `%`).
///
/// # Safety
/// `src` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_GuessUrlDecodeBound(src: *const u8, len: DWORD) -> DWORD {
    // SAFETY: per the contract.
    let Some(s) = (unsafe { input(src, len) }) else {
        return 0;
    };
    let mut n = 0;
    let mut i = 0;
    while i < s.len() {
        i += if s[i] == b'%' { 3 } else { 1 };
        n += 1;
    }
    n
}

/// URL-encodes (HP's rules, upper-case hex).
///
/// # Safety
/// `src` has `len` readable bytes; `dest` has `*dest_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_UrlEncode(
    src: *mut u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
) -> c_int {
    crate::error::guard(STREAM_ERROR, || {
        // SAFETY: per the contract.
        let s = match unsafe { args(src, len, dest_len) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = Vec::with_capacity(s.len() * 3);
        for &c in s {
            if url_safe(c) {
                out.push(c);
            } else if c == b' ' {
                out.push(b'+');
            } else {
                out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
            }
        }
        // SAFETY: per the contract.
        unsafe { output(&out, dest, dest_len) }
    })
}

/// URL-decodes (`+` as space, `%XX`); -3 for a `%` without two hex digits.
///
/// # Safety
/// `src` has `len` readable bytes; `dest` has `*dest_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_UrlDecode(
    src: *mut u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
) -> c_int {
    crate::error::guard(STREAM_ERROR, || {
        // SAFETY: per the contract.
        let s = match unsafe { args(src, len, dest_len) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' => match (
                    s.get(i + 1).and_then(|&c| hex(c)),
                    s.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => {
                        // SAFETY: valid per the contract.
                        unsafe { *dest_len = 0 };
                        return DATA_ERROR;
                    }
                },
                c => out.push(c),
            }
            i += 1;
        }
        // SAFETY: per the contract.
        unsafe { output(&out, dest, dest_len) }
    })
}

/// zlib's `compressBound`, plus gzip's larger header and trailer.
#[no_mangle]
pub extern "C" fn SYS_GuessCompressBound(len: DWORD, gzip: BOOL) -> DWORD {
    let n = u64::from(len);
    let bound = n + (n >> 12) + (n >> 14) + (n >> 25) + 13 + if gzip != 0 { 11 } else { 0 };
    bound.min(u64::from(DWORD::MAX)) as DWORD
}

/// Deflates all of `src` into at most `room` bytes; None if it does not fit.
fn deflate(mut c: Compress, src: &[u8], room: usize) -> Option<Vec<u8>> {
    let mut out =
        Vec::with_capacity(room.min(SYS_GuessCompressBound(src.len() as DWORD, TRUE) as usize));
    loop {
        let done = c.total_in() as usize;
        match c.compress_vec(&src[done..], &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => return Some(out),
            Ok(_) if out.len() < out.capacity() => continue,
            Ok(_) => {
                if out.capacity() >= room {
                    return None;
                }
                out.reserve((room - out.capacity()).min(out.capacity().max(64)));
            }
            Err(_) => return None,
        }
    }
}

/// zlib with HP's parameters: level (-1 default, 0..9), method (8 = deflate), window bits
/// (8..15 zlib, -8..-15 raw deflate, 24..31 gzip), memory level (1..9) and strategy (0..4;
/// shardnet's deflate uses its own memory level and strategy: they are checked, not applied).
///
/// # Safety
/// `src` has `len` readable bytes; `dest` has `*dest_len` writable bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn SYS_CompressEx(
    src: *const u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
    level: c_int,
    method: c_int,
    window_bits: c_int,
    mem_level: c_int,
    strategy: c_int,
) -> c_int {
    crate::error::guard(STREAM_ERROR, || {
        // SAFETY: per the contract.
        let Some(s) = (unsafe { input(src, len) }) else {
            return DATA_ERROR;
        };
        if dest_len.is_null()
            || method != 8
            || !(-1..=9).contains(&level)
            || !(1..=9).contains(&mem_level)
            || !(0..=4).contains(&strategy)
        {
            return STREAM_ERROR;
        }
        let lvl = if level < 0 {
            Compression::default()
        } else {
            Compression::new(level as u32)
        };
        let c = match window_bits {
            8..=15 => Compress::new_with_window_bits(lvl, true, window_bits.max(9) as u8),
            -15..=-8 => Compress::new_with_window_bits(lvl, false, (-window_bits).max(9) as u8),
            24..=31 => Compress::new_gzip(lvl, (window_bits - 16).max(9) as u8),
            _ => return STREAM_ERROR,
        };
        let room = if dest.is_null() {
            0
        } else {
            // SAFETY: `dest_len` is valid per the contract (checked non-null above).
            (unsafe { *dest_len }) as usize
        };
        match deflate(c, s, room) {
            // SAFETY: per the contract.
            Some(out) => unsafe { output(&out, dest, dest_len) },
            None => {
                // SAFETY: valid per the contract.
                unsafe { *dest_len = SYS_GuessCompressBound(len, b(window_bits >= 24)) };
                BUF_ERROR
            }
        }
    })
}

/// zlib format, default level.
///
/// # Safety
/// As [`SYS_CompressEx`].
#[no_mangle]
pub unsafe extern "C" fn SYS_Compress(
    src: *const u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { SYS_CompressEx(src, len, dest, dest_len, -1, 8, 15, 8, 0) }
}

/// gzip format, default level.
///
/// # Safety
/// As [`SYS_CompressEx`].
#[no_mangle]
pub unsafe extern "C" fn SYS_GZipCompress(
    src: *const u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { SYS_CompressEx(src, len, dest, dest_len, -1, 8, 31, 8, 0) }
}

/// Inflates `src` into at most `room` bytes: Ok(bytes) at the stream's end, Err(BUF_ERROR)
/// when it needs more room, Err(DATA_ERROR) when it is not valid or ends early.
fn inflate(mut d: Decompress, src: &[u8], room: usize) -> Result<Vec<u8>, c_int> {
    let mut out = Vec::with_capacity(room.min(64 << 10));
    loop {
        let done = d.total_in() as usize;
        let before = (d.total_in(), d.total_out());
        match d.decompress_vec(&src[done..], &mut out, FlushDecompress::Finish) {
            Ok(Status::StreamEnd) => return Ok(out),
            Ok(_) => {
                if out.len() < out.capacity() && (d.total_in(), d.total_out()) == before {
                    return Err(DATA_ERROR); // no progress with room left: truncated input
                }
                if out.len() == out.capacity() {
                    if out.capacity() >= room {
                        return Err(BUF_ERROR);
                    }
                    out.reserve((room - out.capacity()).min(out.capacity().max(64)));
                }
            }
            Err(_) => return Err(DATA_ERROR),
        }
    }
}

/// zlib's inflate with window bits (8..15 zlib, -8..-15 raw, 24..31 gzip, 40..47 zlib or
/// gzip by the header).
///
/// # Safety
/// `src` has `len` readable bytes; `dest` has `*dest_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_UncompressEx(
    src: *const u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
    window_bits: c_int,
) -> c_int {
    crate::error::guard(STREAM_ERROR, || {
        // SAFETY: per the contract.
        let s = match unsafe { args(src, len, dest_len) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        let gzip_header = s.starts_with(&[0x1f, 0x8b]);
        let d = match window_bits {
            8..=15 => Decompress::new_with_window_bits(true, window_bits.max(9) as u8),
            -15..=-8 => Decompress::new_with_window_bits(false, (-window_bits).max(9) as u8),
            24..=31 => Decompress::new_gzip((window_bits - 16).max(9) as u8),
            40..=47 if gzip_header => Decompress::new_gzip((window_bits - 32).max(9) as u8),
            40..=47 => Decompress::new_with_window_bits(true, (window_bits - 32).max(9) as u8),
            _ => return STREAM_ERROR,
        };
        let room = if dest.is_null() {
            0
        } else {
            // SAFETY: `dest_len` is valid per the contract (checked non-null above).
            (unsafe { *dest_len }) as usize
        };
        match inflate(d, s, room) {
            // SAFETY: per the contract.
            Ok(out) => unsafe { output(&out, dest, dest_len) },
            Err(e) => {
                // SAFETY: valid per the contract.
                unsafe { *dest_len = 0 };
                e
            }
        }
    })
}

/// zlib format.
///
/// # Safety
/// As [`SYS_UncompressEx`].
#[no_mangle]
pub unsafe extern "C" fn SYS_Uncompress(
    src: *const u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { SYS_UncompressEx(src, len, dest, dest_len, 15) }
}

/// gzip (or zlib) format, by the header.
///
/// # Safety
/// As [`SYS_UncompressEx`].
#[no_mangle]
pub unsafe extern "C" fn SYS_GZipUncompress(
    src: *const u8,
    len: DWORD,
    dest: *mut u8,
    dest_len: *mut DWORD,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { SYS_UncompressEx(src, len, dest, dest_len, 47) }
}

/// The length a gzip stream says it expands to (its trailer's ISIZE); 0 if `src` is not gzip.
///
/// # Safety
/// `src` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_GZipGuessUncompressBound(src: *const u8, len: DWORD) -> DWORD {
    // SAFETY: per the contract.
    match unsafe { input(src, len) } {
        Some(s) if s.len() >= 20 && s.starts_with(&[0x1f, 0x8b]) => {
            u32::from_le_bytes(s[s.len() - 4..].try_into().expect("4 bytes"))
        }
        _ => 0,
    }
}
