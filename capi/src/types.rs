//! HPSocket4C's C types and enum values on Linux (HP-Socket 5.8: `HPTypeDef.h`, `GlobalDef.h`).

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_ushort, c_void};

/// `BOOL`: `int`, TRUE 1, FALSE 0.
pub type BOOL = c_int;
/// TRUE.
pub const TRUE: BOOL = 1;
/// FALSE.
pub const FALSE: BOOL = 0;
/// `DWORD`: `unsigned int`.
pub type DWORD = c_uint;
/// `USHORT`.
pub type USHORT = c_ushort;
/// `UINT_PTR`: `unsigned long`.
pub type UINT_PTR = c_ulong;
/// `HP_CONNID`: `unsigned long` — a shardnet `ConnId`'s raw value.
pub type HP_CONNID = c_ulong;
/// `PVOID`.
pub type PVOID = *mut c_void;
/// `LPCTSTR` (`TCHAR` is `char`).
pub type LPCTSTR = *const c_char;

/// `WSABUF`: `{ UINT len; LPBYTE buf; }` (Windows order, not iovec's).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSABUF {
    /// Length.
    pub len: c_uint,
    /// Bytes.
    pub buf: *mut u8,
}

/// `En_HP_HandleResult`.
pub mod hr {
    use std::ffi::c_int;
    /// Success.
    pub const HR_OK: c_int = 0;
    /// Not handled.
    pub const HR_IGNORE: c_int = 1;
    /// Failure.
    pub const HR_ERROR: c_int = 2;
}

/// `En_HP_ServiceState`.
pub mod ss {
    use std::ffi::c_int;
    /// Starting.
    pub const SS_STARTING: c_int = 0;
    /// Started.
    pub const SS_STARTED: c_int = 1;
    /// Stopping.
    pub const SS_STOPPING: c_int = 2;
    /// Stopped.
    pub const SS_STOPPED: c_int = 3;
}

/// `En_HP_FetchResult`.
pub mod fr {
    use std::ffi::c_int;
    /// Filled.
    pub const FR_OK: c_int = 0;
    /// Fewer bytes buffered than asked.
    pub const FR_LENGTH_TOO_LONG: c_int = 1;
    /// No such connection.
    pub const FR_DATA_NOT_FOUND: c_int = 2;
}

/// `En_HP_SendPolicy` (SP_SAFE is served as SP_PACK: sends are ordered either way).
pub mod sp {
    use std::ffi::c_int;
    /// Coalesce.
    pub const SP_PACK: c_int = 0;
    /// Safe.
    pub const SP_SAFE: c_int = 1;
    /// One write per buffer.
    pub const SP_DIRECT: c_int = 2;
}

/// `En_HP_CastMode`.
pub mod cm {
    /// Unicast (a node without a group).
    pub const CM_UNICAST: i32 = -1;
    /// Multicast.
    pub const CM_MULTICAST: i32 = 0;
    /// Broadcast.
    pub const CM_BROADCAST: i32 = 1;
}

/// `En_HP_ReuseAddressPolicy`.
pub mod rap {
    use std::ffi::c_int;
    /// Neither.
    pub const RAP_NONE: c_int = 0;
    /// SO_REUSEADDR.
    pub const RAP_ADDR_ONLY: c_int = 1;
    /// SO_REUSEADDR and SO_REUSEPORT.
    pub const RAP_ADDR_AND_PORT: c_int = 2;
}

/// `En_HP_SocketError`.
pub mod se {
    use std::ffi::c_int;
    /// No error.
    pub const SE_OK: c_int = 0;
    /// Wrong state for the call.
    pub const SE_ILLEGAL_STATE: c_int = 1;
    /// Bad parameter.
    pub const SE_INVALID_PARAM: c_int = 2;
    /// socket() failed.
    pub const SE_SOCKET_CREATE: c_int = 3;
    /// bind() failed.
    pub const SE_SOCKET_BIND: c_int = 4;
    /// OnPrepareListen / OnPrepareConnect refused.
    pub const SE_SOCKET_PREPARE: c_int = 5;
    /// listen() failed.
    pub const SE_SOCKET_LISTEN: c_int = 6;
    /// The I/O machinery could not start.
    pub const SE_CP_CREATE: c_int = 7;
    /// A worker thread could not start.
    pub const SE_WORKER_THREAD_CREATE: c_int = 8;
    /// The detector thread could not start.
    pub const SE_DETECT_THREAD_CREATE: c_int = 9;
    /// Attaching a socket failed.
    pub const SE_SOCKE_ATTACH_TO_CP: c_int = 10;
    /// Connecting failed.
    pub const SE_CONNECT_SERVER: c_int = 11;
    /// Network error.
    pub const SE_NETWORK: c_int = 12;
    /// Data processing error.
    pub const SE_DATA_PROC: c_int = 13;
    /// Sending failed.
    pub const SE_DATA_SEND: c_int = 14;
    /// TLS not set up.
    pub const SE_SSL_ENV_NOT_READY: c_int = 101;
}

/// `En_HP_HttpParseResult`.
pub mod hpr {
    use std::ffi::c_int;
    /// Go on.
    pub const HPR_OK: c_int = 0;
    /// (`OnHeadersComplete`) read past the body without delivering it.
    pub const HPR_SKIP_BODY: c_int = 1;
    /// (`OnHeadersComplete`) the connection switches protocols.
    pub const HPR_UPGRADE: c_int = 2;
    /// Close the connection.
    pub const HPR_ERROR: c_int = -1;
}

/// `En_HP_HttpUpgradeType`.
pub mod hut {
    use std::ffi::c_int;
    /// No upgrade.
    pub const HUT_NONE: c_int = 0;
    /// WebSocket.
    pub const HUT_WEB_SOCKET: c_int = 1;
    /// CONNECT tunnel.
    pub const HUT_HTTP_TUNNEL: c_int = 2;
    /// Another protocol.
    pub const HUT_UNKNOWN: c_int = -1;
}

/// `En_HP_HttpVersion`: `MAKEWORD(major, minor)`.
pub mod hv {
    use std::ffi::c_int;
    /// HTTP/1.0.
    pub const HV_1_0: c_int = 1;
    /// HTTP/1.1.
    pub const HV_1_1: c_int = 0x0101;
}

/// `ULONGLONG`.
pub type ULONGLONG = u64;

pub(crate) fn b(v: bool) -> BOOL {
    if v {
        TRUE
    } else {
        FALSE
    }
}

/// A C string argument; None for NULL or bytes that are not UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn text<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_str().ok()
}

/// A byte-buffer argument; None for a negative length or NULL with a positive one.
///
/// # Safety
/// `p` points to `len` readable bytes when `len > 0`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: c_int) -> Option<&'a [u8]> {
    match len {
        0 => Some(&[]),
        n if n < 0 || p.is_null() => None,
        // SAFETY: `len` readable bytes at `p` per the caller's contract.
        n => Some(unsafe { std::slice::from_raw_parts(p, n as usize) }),
    }
}

/// `WSABUF` array argument as slices; None for NULL with a positive count.
///
/// # Safety
/// `p` points to `count` WSABUFs, each with `len` readable bytes at `buf`.
pub(crate) unsafe fn buffers<'a>(p: *const WSABUF, count: c_int) -> Option<Vec<&'a [u8]>> {
    if count < 0 || (count > 0 && p.is_null()) {
        return None;
    }
    if count == 0 {
        return Some(Vec::new());
    }
    // SAFETY: `count` WSABUFs at `p` per the caller's contract.
    let bufs = unsafe { std::slice::from_raw_parts(p, count as usize) };
    bufs.iter()
        // SAFETY: each WSABUF names `len` readable bytes, per the caller's contract.
        .map(|w| unsafe { bytes(w.buf, w.len as c_int) })
        .collect()
}

/// HP's address-out protocol: `addr` (text) into `buf` of `*len` chars (NUL included); too
/// small (or NULL) sets `*len` to the size needed and returns FALSE.
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` are NULL or valid.
pub(crate) unsafe fn put_addr(
    addr: std::net::SocketAddr,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    let ip = addr.ip().to_string();
    let need = ip.len() + 1;
    if len.is_null() {
        return FALSE;
    }
    // SAFETY: `len` is valid per the caller's contract.
    let cap = unsafe { *len };
    // SAFETY: as above.
    unsafe { *len = need as c_int };
    if !port.is_null() {
        // SAFETY: valid per the caller's contract.
        unsafe { *port = addr.port() };
    }
    if buf.is_null() || (cap as usize) < need || cap < 0 {
        crate::error::set_errno(libc::ENOBUFS);
        return FALSE;
    }
    // SAFETY: `need` ≤ `cap` writable bytes at `buf`.
    unsafe {
        std::ptr::copy_nonoverlapping(ip.as_ptr(), buf as *mut u8, ip.len());
        *buf.add(ip.len()) = 0;
    }
    TRUE
}
