//! What HP-Socket's Server and Agent share (`IComplexSocket`): sends, disconnects, per
//! connection queries, by `HP_CONNID`. One generic body per operation; `server.rs` and
//! `agent.rs` export them under HP's names.

use crate::error::{done, set_errno};
use crate::types::{
    b, buffers, bytes, put_addr, BOOL, DWORD, FALSE, HP_CONNID, PVOID, TRUE, USHORT, WSABUF,
};
use shardnet_components::{FetchResult, Result, ServiceState, TcpAgent, TcpServer};
use shardnet_runtime::ConnId;
use std::ffi::{c_char, c_int};
use std::net::SocketAddr;
use std::time::Duration;

/// The running component's per-connection API (TcpServer and TcpAgent have the same).
pub(crate) trait Complex: Send + Sync + 'static {
    fn send_packets(&self, c: ConnId, parts: &[&[u8]]) -> Result<()>;
    fn extra(&self, c: ConnId) -> Option<u64>;
    fn connection_ids(&self) -> Vec<ConnId>;
    fn state(&self) -> ServiceState;
    fn stop(&self);
    fn wait_timeout(&self, t: Duration) -> Result<bool>;
    fn fetch(&self, c: ConnId, buf: &mut [u8], peek: bool) -> FetchResult;
    fn send_small_file(&self, c: ConnId, path: &str, head: &[u8], tail: &[u8]) -> Result<()>;
}

macro_rules! complex_for {
    ($($t:ty),*) => {$(
        impl Complex for $t {
            fn send_packets(&self, c: ConnId, parts: &[&[u8]]) -> Result<()> {
                <$t>::send_packets(self, c, parts)
            }
            fn extra(&self, c: ConnId) -> Option<u64> {
                <$t>::extra(self, c)
            }
            fn connection_ids(&self) -> Vec<ConnId> {
                <$t>::connection_ids(self)
            }
            fn state(&self) -> ServiceState {
                <$t>::state(self)
            }
            fn stop(&self) {
                <$t>::stop(self)
            }
            fn wait_timeout(&self, t: Duration) -> Result<bool> {
                <$t>::wait_timeout(self, t)
            }
            fn fetch(&self, c: ConnId, buf: &mut [u8], peek: bool) -> FetchResult {
                if peek {
                    <$t>::peek(self, c, buf)
                } else {
                    <$t>::fetch(self, c, buf)
                }
            }
            fn send_small_file(
                &self,
                c: ConnId,
                path: &str,
                head: &[u8],
                tail: &[u8],
            ) -> Result<()> {
                <$t>::send_small_file(self, c, path, head, tail)
            }
        }
    )*};
}

complex_for!(TcpServer, TcpAgent);

// HP_CONNID is `unsigned long`: the same as u64 here, 32 bits on other targets.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn conn(id: HP_CONNID) -> ConnId {
    ConnId::from_u64(id as u64)
}

/// The running component behind `p`, or FALSE with EPERM (not started) / EINVAL (NULL).
pub(crate) fn running<C: Complex, F: 'static>(
    p: PVOID,
) -> std::result::Result<crate::handle::Running<C>, BOOL> {
    // SAFETY: the C contract: `p` is NULL or a live handle of this family.
    match unsafe { crate::handle::handle::<C, F>(p) } {
        None => {
            set_errno(libc::EINVAL);
            Err(FALSE)
        }
        Some(h) => h.get().ok_or_else(|| {
            set_errno(libc::EPERM);
            FALSE
        }),
    }
}

/// Unwraps `running` in a function returning BOOL.
macro_rules! running_or_false {
    ($c:ty, $f:ty, $p:expr) => {
        match $crate::complex::running::<$c, $f>($p) {
            Ok(c) => c,
            Err(v) => return v,
        }
    };
}
pub(crate) use running_or_false;

pub(crate) fn send<C: Complex>(
    c: &C,
    id: HP_CONNID,
    buf: *const u8,
    len: c_int,
    off: c_int,
) -> BOOL {
    if off < 0 {
        set_errno(libc::EINVAL);
        return FALSE;
    }
    // SAFETY: `len` bytes at `buf + off` per the C contract (HP's SendPart).
    match unsafe { bytes(buf.wrapping_add(off as usize), len) } {
        Some(d) => done(c.send_packets(conn(id), &[d])),
        None => {
            set_errno(libc::EINVAL);
            FALSE
        }
    }
}

pub(crate) fn send_packets<C: Complex>(
    c: &C,
    id: HP_CONNID,
    bufs: *const WSABUF,
    n: c_int,
) -> BOOL {
    // SAFETY: `n` WSABUFs per the C contract.
    match unsafe { buffers(bufs, n) } {
        Some(parts) => done(c.send_packets(conn(id), &parts)),
        None => {
            set_errno(libc::EINVAL);
            FALSE
        }
    }
}

pub(crate) fn get_extra<C: Complex>(c: &C, id: HP_CONNID, out: *mut PVOID) -> BOOL {
    if out.is_null() {
        set_errno(libc::EINVAL);
        return FALSE;
    }
    match c.extra(conn(id)) {
        Some(v) => {
            // SAFETY: `out` is valid per the C contract.
            unsafe { *out = v as usize as PVOID };
            TRUE
        }
        None => {
            set_errno(libc::ENOENT);
            FALSE
        }
    }
}

/// Writes `v` to `out` when both exist; FALSE with ENOENT when `v` is None.
pub(crate) fn put<T>(v: Option<T>, out: *mut T) -> BOOL {
    match (v, out.is_null()) {
        (Some(v), false) => {
            // SAFETY: non-null, valid per the C contract.
            unsafe { *out = v };
            TRUE
        }
        (None, _) => {
            set_errno(libc::ENOENT);
            FALSE
        }
        (_, true) => {
            set_errno(libc::EINVAL);
            FALSE
        }
    }
}

pub(crate) fn ms(d: Duration) -> DWORD {
    d.as_millis().min(u32::MAX as u128) as DWORD
}

/// HP's id-list protocol: with `ids` NULL or `*count` too small, `*count` becomes the number
/// needed and the call returns FALSE.
pub(crate) fn all_ids<C: Complex>(c: &C, ids: *mut HP_CONNID, count: *mut DWORD) -> BOOL {
    if count.is_null() {
        set_errno(libc::EINVAL);
        return FALSE;
    }
    let all = c.connection_ids();
    // SAFETY: `count` is valid per the C contract.
    let cap = unsafe { *count } as usize;
    // SAFETY: as above.
    unsafe { *count = all.len() as DWORD };
    if ids.is_null() || cap < all.len() {
        set_errno(libc::ENOBUFS);
        return FALSE;
    }
    for (i, id) in all.iter().enumerate() {
        // SAFETY: `cap` ≥ all.len() slots at `ids` per the C contract.
        unsafe { *ids.add(i) = id.as_u64() as HP_CONNID };
    }
    TRUE
}

pub(crate) fn addr_of(
    a: Option<SocketAddr>,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    match a {
        // SAFETY: HP's address-out contract, per the caller.
        Some(a) => unsafe { put_addr(a, buf, len, port) },
        None => {
            set_errno(libc::ENOENT);
            FALSE
        }
    }
}

pub(crate) fn fetch<C: Complex>(
    c: &C,
    id: HP_CONNID,
    buf: *mut u8,
    len: c_int,
    peek: bool,
) -> c_int {
    use crate::types::fr;
    if len < 0 || (len > 0 && buf.is_null()) {
        set_errno(libc::EINVAL);
        return fr::FR_DATA_NOT_FOUND;
    }
    let slice: &mut [u8] = if len == 0 {
        &mut []
    } else {
        // SAFETY: `len` writable bytes at `buf` per the C contract.
        unsafe { std::slice::from_raw_parts_mut(buf, len as usize) }
    };
    match c.fetch(conn(id), slice, peek) {
        FetchResult::Ok => fr::FR_OK,
        FetchResult::LengthTooLong => fr::FR_LENGTH_TOO_LONG,
        FetchResult::DataNotFound => fr::FR_DATA_NOT_FOUND,
    }
}

pub(crate) fn state_code(s: Option<ServiceState>) -> c_int {
    use crate::types::ss;
    match s {
        Some(ServiceState::Starting) => ss::SS_STARTING,
        Some(ServiceState::Started) => ss::SS_STARTED,
        Some(ServiceState::Stopping) => ss::SS_STOPPING,
        Some(ServiceState::Stopped) | None => ss::SS_STOPPED,
    }
}

/// HP's Stop: returns once stopped — except inside a callback, where shardnet stops without
/// waiting (HP-Socket deadlocks there).
pub(crate) fn stop<C: Complex>(c: &C) -> BOOL {
    if matches!(c.state(), ServiceState::Stopped) {
        set_errno(libc::EPERM);
        return FALSE;
    }
    c.stop();
    if shardnet_runtime::Runtime::current().is_none() {
        let _ = c.wait_timeout(Duration::from_secs(60));
    }
    TRUE
}

pub(crate) fn wait<C: Complex>(c: &C, ms: DWORD) -> BOOL {
    // HP: INFINITE is 0xFFFFFFFF.
    let t = if ms == DWORD::MAX {
        Duration::from_secs(u32::MAX as u64)
    } else {
        Duration::from_millis(ms as u64)
    };
    match c.wait_timeout(t) {
        Ok(stopped) => b(stopped),
        Err(e) => {
            set_errno(crate::error::errno_of(&e));
            FALSE
        }
    }
}

pub(crate) fn small_file<C: Complex>(
    c: &C,
    id: HP_CONNID,
    name: *const c_char,
    head: *const WSABUF,
    tail: *const WSABUF,
) -> BOOL {
    // SAFETY: the C contract: a NUL-terminated name; head and tail NULL or one WSABUF each.
    let (Some(path), Some(h), Some(t)) = (
        unsafe { crate::types::text(name) },
        unsafe { one(head) },
        unsafe { one(tail) },
    ) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    done(c.send_small_file(conn(id), path, h, t))
}

/// One optional WSABUF (NULL → empty).
///
/// # Safety
/// `w` is NULL or a valid WSABUF naming readable bytes.
pub(crate) unsafe fn one<'a>(w: *const WSABUF) -> Option<&'a [u8]> {
    if w.is_null() {
        return Some(&[]);
    }
    // SAFETY: per the contract.
    let w = unsafe { &*w };
    // SAFETY: per the contract.
    unsafe { bytes(w.buf, w.len as c_int) }
}

/// A connection's address, answered inside `OnAccept` too (the connection is not open yet
/// there; the accept's own addresses are used), in HP's buffer protocol.
pub(crate) fn conn_addr(
    open: Option<SocketAddr>,
    c: HP_CONNID,
    remote: bool,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    let a = open.or_else(|| {
        crate::server::accepting(conn(c)).and_then(|(r, l)| if remote { Some(r) } else { l })
    });
    addr_of(a, buf, len, port)
}
