//! HP-Socket's address helpers: `SYS_IsIPAddress`, `SYS_GetIPAddress` (resolve a host to its
//! first address), `SYS_EnumHostIPAddresses` / `SYS_FreeHostIPAddresses` (all of them).

use crate::error::{guard, set_errno};
use crate::types::*;
use std::ffi::{c_char, c_int, CString};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// `En_HP_IPAddrType`.
const IPT_ALL: c_int = 0;
const IPT_IPV4: c_int = 1;
const IPT_IPV6: c_int = 2;

/// HP's `TIPAddr`: an address's family and text.
#[repr(C)]
pub struct TIPAddr {
    kind: c_int,
    address: *const c_char,
}

fn kind(ip: &IpAddr) -> c_int {
    if ip.is_ipv4() {
        IPT_IPV4
    } else {
        IPT_IPV6
    }
}

/// The host's addresses of `want` (IPT_ALL: both families), in the resolver's order, once each.
fn resolve(host: &str, want: c_int) -> Vec<IpAddr> {
    let all: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (host, 0)
            .to_socket_addrs()
            .map(|a| a.map(|s: SocketAddr| s.ip()).collect())
            .unwrap_or_default(),
    };
    let mut out = Vec::new();
    for ip in all {
        if (want == IPT_ALL || kind(&ip) == want) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// Whether `addr` is an IPv4 or IPv6 address literal (and which, in `*kind` if not NULL).
///
/// # Safety
/// `addr` NULL or a C string; `kind` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn SYS_IsIPAddress(addr: LPCTSTR, out: *mut c_int) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the contract.
        match unsafe { text(addr) }.and_then(|a| a.parse::<IpAddr>().ok()) {
            Some(ip) => {
                if !out.is_null() {
                    // SAFETY: writable per the contract.
                    unsafe { *out = kind(&ip) };
                }
                TRUE
            }
            None => FALSE,
        }
    })
}

/// The first address of `host` (a literal is its own), with HP's buffer protocol (`*len` in:
/// room, out: the length needed with its NUL) and its family in `*kind`.
///
/// # Safety
/// `host` a C string; `ip` has `*len` writable bytes; `len` valid; `kind` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn SYS_GetIPAddress(
    host: LPCTSTR,
    ip: *mut c_char,
    len: *mut c_int,
    out: *mut c_int,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the contract.
        let Some(host) = (unsafe { text(host) }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let Some(first) = resolve(host, IPT_ALL).into_iter().next() else {
            set_errno(libc::ENOENT);
            return FALSE;
        };
        if !out.is_null() {
            // SAFETY: writable per the contract.
            unsafe { *out = kind(&first) };
        }
        // SAFETY: per the contract (the port is not asked for).
        unsafe { put_addr(SocketAddr::new(first, 0), ip, len, std::ptr::null_mut()) }
    })
}

/// Every address of `host` of family `want`: `*out` receives an array of `*count` pointers
/// to `TIPAddr` (NULL-terminated), freed with `SYS_FreeHostIPAddresses`. FALSE (ENOENT) when
/// there is none.
///
/// # Safety
/// `host` a C string; `out` and `count` writable.
#[no_mangle]
pub unsafe extern "C" fn SYS_EnumHostIPAddresses(
    host: LPCTSTR,
    want: c_int,
    out: *mut *mut *mut TIPAddr,
    count: *mut c_int,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: per the contract.
        let host = unsafe { text(host) };
        let (Some(host), false, false) = (host, out.is_null(), count.is_null()) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        if !(IPT_ALL..=IPT_IPV6).contains(&want) {
            set_errno(libc::EINVAL);
            return FALSE;
        }
        let ips = resolve(host, want);
        // SAFETY: writable per the contract.
        unsafe { *count = ips.len() as c_int };
        if ips.is_empty() {
            // SAFETY: as above.
            unsafe { *out = std::ptr::null_mut() };
            set_errno(libc::ENOENT);
            return FALSE;
        }
        let mut list: Vec<*mut TIPAddr> = ips
            .iter()
            .map(|ip| {
                let text = CString::new(ip.to_string()).expect("no NUL in an address");
                Box::into_raw(Box::new(TIPAddr {
                    kind: kind(ip),
                    address: text.into_raw(),
                }))
            })
            .collect();
        list.push(std::ptr::null_mut());
        let list = Box::into_raw(list.into_boxed_slice()) as *mut *mut TIPAddr;
        // SAFETY: writable per the contract.
        unsafe { *out = list };
        TRUE
    })
}

/// Frees what `SYS_EnumHostIPAddresses` returned (NULL: FALSE).
///
/// # Safety
/// `list` came from `SYS_EnumHostIPAddresses` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn SYS_FreeHostIPAddresses(list: *mut *mut TIPAddr) -> BOOL {
    guard(FALSE, || {
        if list.is_null() {
            return FALSE;
        }
        let mut n = 0;
        // SAFETY: a NULL-terminated array made by SYS_EnumHostIPAddresses.
        while !unsafe { *list.add(n) }.is_null() {
            // SAFETY: each entry and its text were made by Box::into_raw / CString::into_raw
            // there, and are freed once, here.
            unsafe {
                let e = Box::from_raw(*list.add(n));
                drop(CString::from_raw(e.address as *mut c_char));
            }
            n += 1;
        }
        // SAFETY: the array was a boxed slice of n + 1 pointers.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(list, n + 1)) });
        TRUE
    })
}
