//! HP-Socket's system helpers (`SYS_*`): socket options, socket addresses, byte order, the
//! allocator, and the version. Thin wrappers over libc with HP's return conventions: the
//! option setters return 0 or -1 (SOCKET_ERROR) with errno, the address getters HP's buffer
//! protocol.

use crate::types::*;
use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::net::SocketAddr;

/// The HP-Socket version this library implements the API of: 5.8.6 build 3, as
/// `(major << 24) | (minor << 16) | (revise << 8) | build`.
#[no_mangle]
pub extern "C" fn HP_GetHPSocketVersion() -> DWORD {
    (5 << 24) | (8 << 16) | (6 << 8) | 3
}

/// `setsockopt`.
///
/// # Safety
/// `val` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn SYS_SetSocketOption(
    sock: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: c_int,
) -> c_int {
    // SAFETY: per the contract; the kernel checks the descriptor.
    unsafe { libc::setsockopt(sock, level, name, val, len as libc::socklen_t) }
}

/// `getsockopt`.
///
/// # Safety
/// `val` has `*len` writable bytes; `len` is valid.
#[no_mangle]
pub unsafe extern "C" fn SYS_GetSocketOption(
    sock: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut c_int,
) -> c_int {
    if len.is_null() {
        crate::error::set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: `len` is valid per the contract.
    let mut l = unsafe { *len } as libc::socklen_t;
    // SAFETY: per the contract.
    let r = unsafe { libc::getsockopt(sock, level, name, val, &mut l) };
    // SAFETY: as above.
    unsafe { *len = l as c_int };
    r
}

/// `ioctl` on a socket.
///
/// # Safety
/// `arg` is valid for `cmd`.
#[no_mangle]
pub unsafe extern "C" fn SYS_IoctlSocket(sock: c_int, cmd: c_long, arg: *mut c_ulong) -> c_int {
    // SAFETY: per the contract; the kernel checks the descriptor.
    unsafe { libc::ioctl(sock, cmd as _, arg) }
}

/// Sets (`set` TRUE) or clears file status flags `fl` of `fd`.
#[no_mangle]
pub extern "C" fn SYS_fcntl_SETFL(fd: c_int, fl: c_int, set: BOOL) -> BOOL {
    // SAFETY: fcntl on a caller-given descriptor; the kernel checks it.
    let old = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if old == -1 {
        return FALSE;
    }
    let new = if set != 0 { old | fl } else { old & !fl };
    // SAFETY: as above.
    b(new == old || unsafe { libc::fcntl(fd, libc::F_SETFL, new) } != -1)
}

fn set_int(sock: c_int, level: c_int, name: c_int, v: c_int) -> c_int {
    // SAFETY: an int option value on the stack, for the duration of the call.
    unsafe {
        libc::setsockopt(
            sock,
            level,
            name,
            &v as *const c_int as *const c_void,
            std::mem::size_of::<c_int>() as libc::socklen_t,
        )
    }
}

fn set_timeval(sock: c_int, name: c_int, ms: c_int) -> c_int {
    let tv = libc::timeval {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t,
    };
    // SAFETY: a timeval on the stack, for the duration of the call.
    unsafe {
        libc::setsockopt(
            sock,
            libc::SOL_SOCKET,
            name,
            &tv as *const libc::timeval as *const c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    }
}

/// O_NONBLOCK on or off.
#[no_mangle]
pub extern "C" fn SYS_SSO_NoBlock(sock: c_int, on: BOOL) -> c_int {
    if SYS_fcntl_SETFL(sock, libc::O_NONBLOCK, on) != 0 {
        0
    } else {
        -1
    }
}
/// TCP_NODELAY.
#[no_mangle]
pub extern "C" fn SYS_SSO_NoDelay(sock: c_int, on: BOOL) -> c_int {
    set_int(
        sock,
        libc::IPPROTO_TCP,
        libc::TCP_NODELAY,
        c_int::from(on != 0),
    )
}
/// SO_LINGER off (`dont` TRUE) or on with 0 s.
#[no_mangle]
pub extern "C" fn SYS_SSO_DontLinger(sock: c_int, dont: BOOL) -> c_int {
    SYS_SSO_Linger(sock, u16::from(dont == 0), 0)
}
/// SO_LINGER.
#[no_mangle]
pub extern "C" fn SYS_SSO_Linger(sock: c_int, onoff: USHORT, secs: USHORT) -> c_int {
    let l = libc::linger {
        l_onoff: onoff as c_int,
        l_linger: secs as c_int,
    };
    // SAFETY: a linger struct on the stack, for the duration of the call.
    unsafe {
        libc::setsockopt(
            sock,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const libc::linger as *const c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    }
}
/// SO_RCVBUF.
#[no_mangle]
pub extern "C" fn SYS_SSO_RecvBuffSize(sock: c_int, size: c_int) -> c_int {
    set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, size)
}
/// SO_SNDBUF.
#[no_mangle]
pub extern "C" fn SYS_SSO_SendBuffSize(sock: c_int, size: c_int) -> c_int {
    set_int(sock, libc::SOL_SOCKET, libc::SO_SNDBUF, size)
}
/// SO_RCVTIMEO in ms.
#[no_mangle]
pub extern "C" fn SYS_SSO_RecvTimeOut(sock: c_int, ms: c_int) -> c_int {
    set_timeval(sock, libc::SO_RCVTIMEO, ms)
}
/// SO_SNDTIMEO in ms.
#[no_mangle]
pub extern "C" fn SYS_SSO_SendTimeOut(sock: c_int, ms: c_int) -> c_int {
    set_timeval(sock, libc::SO_SNDTIMEO, ms)
}
/// `En_HP_ReuseAddressPolicy`: SO_REUSEADDR, and SO_REUSEPORT for RAP_ADDR_AND_PORT.
#[no_mangle]
pub extern "C" fn SYS_SSO_ReuseAddress(sock: c_int, policy: c_int) -> c_int {
    let addr = c_int::from(policy != rap::RAP_NONE);
    let port = c_int::from(policy == rap::RAP_ADDR_AND_PORT);
    let r = set_int(sock, libc::SOL_SOCKET, libc::SO_REUSEADDR, addr);
    if r != 0 {
        return r;
    }
    set_int(sock, libc::SOL_SOCKET, libc::SO_REUSEPORT, port)
}

fn sock_addr(sock: c_int, peer: bool) -> Option<SocketAddr> {
    if sock < 0 {
        crate::error::set_errno(libc::EBADF);
        return None;
    }
    // SAFETY: a descriptor borrowed for this call only; socket2 reads its address.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(sock) };
    let s = socket2::SockRef::from(&fd);
    let a = if peer { s.peer_addr() } else { s.local_addr() };
    a.ok().and_then(|a| a.as_socket())
}

/// A socket's local address (HP's buffer protocol).
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn SYS_GetSocketLocalAddress(
    sock: c_int,
    buf: *mut std::ffi::c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    crate::error::guard(FALSE, || {
        crate::complex::addr_of(sock_addr(sock, false), buf, len, port)
    })
}

/// A socket's peer address (HP's buffer protocol).
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn SYS_GetSocketRemoteAddress(
    sock: c_int,
    buf: *mut std::ffi::c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    crate::error::guard(FALSE, || {
        crate::complex::addr_of(sock_addr(sock, true), buf, len, port)
    })
}

/// Network to host order, 64 bits.
#[no_mangle]
pub extern "C" fn SYS_NToH64(v: u64) -> u64 {
    u64::from_be(v)
}
/// Host to network order, 64 bits.
#[no_mangle]
pub extern "C" fn SYS_HToN64(v: u64) -> u64 {
    v.to_be()
}
/// Byte swap, 16 bits.
#[no_mangle]
pub extern "C" fn SYS_SwapEndian16(v: USHORT) -> USHORT {
    v.swap_bytes()
}
/// Byte swap, 32 bits.
#[no_mangle]
pub extern "C" fn SYS_SwapEndian32(v: DWORD) -> DWORD {
    v.swap_bytes()
}
/// Whether this machine is little-endian.
#[no_mangle]
pub extern "C" fn SYS_IsLittleEndian() -> BOOL {
    b(cfg!(target_endian = "little"))
}

/// `malloc` (memory the C program frees with `SYS_Free`).
#[no_mangle]
pub extern "C" fn SYS_Malloc(size: c_int) -> *mut u8 {
    // SAFETY: malloc with a size; NULL on failure or a negative size.
    unsafe { libc::malloc(size.max(0) as usize) as *mut u8 }
}
/// `realloc`.
///
/// # Safety
/// `p` is NULL or from `SYS_Malloc` / `SYS_Calloc` / `SYS_Realloc`.
#[no_mangle]
pub unsafe extern "C" fn SYS_Realloc(p: *mut u8, size: c_int) -> *mut u8 {
    // SAFETY: per the contract.
    unsafe { libc::realloc(p as *mut c_void, size.max(0) as usize) as *mut u8 }
}
/// `free`.
///
/// # Safety
/// `p` is NULL or from this allocator, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn SYS_Free(p: *mut u8) {
    // SAFETY: per the contract.
    unsafe { libc::free(p as *mut c_void) }
}
/// `calloc`.
#[no_mangle]
pub extern "C" fn SYS_Calloc(number: c_int, size: c_int) -> *mut c_void {
    // SAFETY: calloc with counts; NULL on failure or overflow.
    unsafe { libc::calloc(number.max(0) as usize, size.max(0) as usize) }
}
