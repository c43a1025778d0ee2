//! `HP_TcpClient`, `HP_TcpPullClient`, `HP_TcpPackClient`: one connection on a thread of its
//! own, HP's `HP_Client_*` / `HP_TcpClient_*` calls and the callback bridge (HP's C API has no
//! client OnShutdown).

use crate::any_client::AnyClient;
use crate::error::{done, guard, set_errno};
use crate::handle::{handle, Handle, Model};
use crate::listener::{call, ConnectorFns};
use crate::types::*;
use shardnet_components::{ClientListener, HandleResult, ServiceState, SocketOperation, TcpClient};
use std::ffi::{c_char, c_int};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

type ClientC = Handle<AnyClient, ConnectorFns>;

struct Bridge {
    /// A copy of the listener's table made at Start (HP: callbacks are set before Start),
    /// so destroying the listener while the component winds down frees nothing it reads.
    fns: ConnectorFns,
    sender: PVOID,
}

// SAFETY: as the server's bridge.
unsafe impl Send for Bridge {}
// SAFETY: as above.
unsafe impl Sync for Bridge {}

impl Bridge {
    fn fns(&self) -> &ConnectorFns {
        &self.fns
    }
}

fn id(c: &TcpClient) -> HP_CONNID {
    c.conn_id().as_u64() as HP_CONNID
}

impl ClientListener for Bridge {
    fn on_prepare_connect(&self, c: &TcpClient, s: BorrowedFd<'_>) -> HandleResult {
        if let Some(h) = client(self.sender) {
            h.adopt_with(|| AnyClient::Tcp(c.clone()));
        }
        call::socket(
            self.fns().prepare_connect,
            self.sender,
            id(c),
            s.as_raw_fd(),
        )
    }
    fn on_connect(&self, c: &TcpClient) -> HandleResult {
        if let Some(h) = client(self.sender) {
            h.adopt_with(|| AnyClient::Tcp(c.clone()));
        }
        call::conn(self.fns().connect, self.sender, id(c))
    }
    fn on_handshake(&self, c: &TcpClient) -> HandleResult {
        call::conn(self.fns().handshake, self.sender, id(c))
    }
    fn on_receive(&self, c: &TcpClient, d: &[u8]) -> HandleResult {
        call::data(self.fns().receive, self.sender, id(c), d)
    }
    fn on_pull_receive(&self, c: &TcpClient, total: usize) -> HandleResult {
        call::length(self.fns().pull_receive, self.sender, id(c), total)
    }
    fn on_send(&self, c: &TcpClient, d: &[u8]) -> HandleResult {
        call::data(self.fns().send, self.sender, id(c), d)
    }
    fn on_close(&self, c: &TcpClient, op: SocketOperation, e: i32) -> HandleResult {
        call::close(self.fns().close, self.sender, id(c), op as c_int, e);
        if let Some(h) = client(self.sender) {
            h.forget(0);
        }
        HandleResult::Ok
    }
}

pub(crate) fn create(l: PVOID, model: Model) -> PVOID {
    crate::handle::create::<AnyClient, ConnectorFns>(l, model)
}

crate::handle::creators!(AnyClient, ConnectorFns:
    Create_HP_TcpClient => Push,
    Create_HP_TcpPullClient => Pull,
    Create_HP_TcpPackClient => Pack
);

crate::handle::destroyers!(AnyClient, ConnectorFns:
    Destroy_HP_TcpClient,
    Destroy_HP_TcpPullClient,
    Destroy_HP_TcpPackClient
);

pub(crate) fn client<'a>(p: PVOID) -> Option<&'a ClientC> {
    // SAFETY: the C contract: NULL or a live client handle.
    unsafe { handle::<AnyClient, ConnectorFns>(p) }
}

fn running(p: PVOID) -> Result<crate::handle::Running<AnyClient>, BOOL> {
    match client(p) {
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

macro_rules! client_or_false {
    ($p:expr) => {
        match running($p) {
            Ok(c) => c,
            Err(v) => return v,
        }
    };
}

fn start(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    async_connect: BOOL,
    bind: Option<SocketAddr>,
) -> BOOL {
    let Some(h) = client(p) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    if h.get()
        .is_some_and(|c| !matches!(c.state(), ServiceState::Stopped))
    {
        h.err
            .set(se::SE_ILLEGAL_STATE, "already started", libc::EPERM);
        return FALSE;
    }
    // SAFETY: the C contract: a C string.
    let Some(host) = (unsafe { text(host) }) else {
        h.err
            .set(se::SE_INVALID_PARAM, "no remote address", libc::EINVAL);
        return FALSE;
    };
    if h.ssl_missing() {
        return FALSE;
    }
    if matches!(h.model, Model::Udp | Model::Arq) {
        return crate::udp::start_client(h, p, host, port, bind);
    }
    if h.model == Model::Cast {
        return crate::udp_cast::start(h, p, host, port, bind);
    }
    if matches!(h.model, Model::Http | Model::HttpSync) {
        return crate::http_client::start(h, p, host, port, async_connect != 0, bind);
    }
    let mut b = TcpClient::builder().config(h.cfg().clone());
    if let Some(a) = bind {
        b = b.bind_address(a);
    }
    b = match h.model {
        // (UDP handles never reach here: they start in udp.rs.)
        Model::Push | Model::Udp | Model::Arq | Model::Cast | Model::Http | Model::HttpSync => b,
        Model::Pull => b.pull(),
        Model::Pack => b.pack(*h.pack_cfg()),
    };
    let bridge = Bridge {
        // SAFETY: the listener is live at Start (HP's life cycle).
        fns: unsafe { *h.fns },
        sender: p,
    };
    h.clear_running();
    match b.start(host, port, async_connect != 0, bridge) {
        Ok(c) => {
            h.install(AnyClient::Tcp(c));
            h.err.set(se::SE_OK, "SUCCESS", 0);
            TRUE
        }
        Err(e) => {
            h.err.from(&e);
            FALSE
        }
    }
}

/// Connects to `host:port` (`async_connect` FALSE: returns once connected, or fails).
///
/// # Safety
/// `host` a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_Start(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    async_connect: BOOL,
) -> BOOL {
    guard(FALSE, || start(p, host, port, async_connect, None))
}

pub(crate) fn bind_of(ip: LPCTSTR, port: USHORT) -> Option<SocketAddr> {
    // SAFETY: the C contract: NULL or a C string.
    let ip = match unsafe { text(ip) } {
        None | Some("") => "0.0.0.0",
        Some(s) => s,
    };
    ip.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

/// Connects from a local address.
///
/// # Safety
/// `host` and `bind` C strings.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_StartWithBindAddress(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    async_connect: BOOL,
    bind: LPCTSTR,
) -> BOOL {
    guard(FALSE, || match bind_of(bind, 0) {
        Some(a) => start(p, host, port, async_connect, Some(a)),
        None => {
            set_errno(libc::EINVAL);
            FALSE
        }
    })
}

/// Connects from a local address and port.
///
/// # Safety
/// `host` and `bind` C strings.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_StartWithBindAddressAndLocalPort(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    async_connect: BOOL,
    bind: LPCTSTR,
    local_port: USHORT,
) -> BOOL {
    guard(FALSE, || match bind_of(bind, local_port) {
        Some(a) => start(p, host, port, async_connect, Some(a)),
        None => {
            set_errno(libc::EINVAL);
            FALSE
        }
    })
}

/// Stops: returns once stopped (inside a callback: without waiting).
#[no_mangle]
pub extern "C" fn HP_Client_Stop(p: PVOID) -> BOOL {
    guard(FALSE, || {
        let c = client_or_false!(p);
        if matches!(c.state(), ServiceState::Stopped) {
            set_errno(libc::EPERM);
            return FALSE;
        }
        c.stop();
        if shardnet_runtime::Runtime::current().is_none() {
            let _ = c.wait_timeout(Duration::from_secs(60));
        }
        TRUE
    })
}

/// Waits up to `ms` (0xFFFFFFFF: forever) for the client to stop.
#[no_mangle]
pub extern "C" fn HP_Client_Wait(p: PVOID, ms: DWORD) -> BOOL {
    guard(FALSE, || {
        let Some(h) = client(p) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let Some(c) = h.get() else {
            return TRUE; // never started: stopped, as HP
        };
        let t = if ms == DWORD::MAX {
            Duration::from_secs(u32::MAX as u64)
        } else {
            Duration::from_millis(ms as u64)
        };
        b(c.wait_timeout(t).unwrap_or(false))
    })
}

/// Sends `len` bytes.
///
/// # Safety
/// `buf` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_Send(p: PVOID, buf: *const u8, len: c_int) -> BOOL {
    guard(FALSE, || {
        let c = client_or_false!(p);
        // SAFETY: per the contract.
        match unsafe { bytes(buf, len) } {
            Some(d) => done(c.send(d)),
            None => {
                set_errno(libc::EINVAL);
                FALSE
            }
        }
    })
}

/// Sends `len` bytes from `buf + off`.
///
/// # Safety
/// `buf + off` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_SendPart(
    p: PVOID,
    buf: *const u8,
    len: c_int,
    off: c_int,
) -> BOOL {
    guard(FALSE, || {
        let c = client_or_false!(p);
        if off < 0 {
            set_errno(libc::EINVAL);
            return FALSE;
        }
        // SAFETY: per the contract.
        match unsafe { bytes(buf.wrapping_add(off as usize), len) } {
            Some(d) => done(c.send(d)),
            None => {
                set_errno(libc::EINVAL);
                FALSE
            }
        }
    })
}

/// Sends several buffers as one write (Pack: as one message).
///
/// # Safety
/// `bufs` has `n` valid WSABUFs.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_SendPackets(p: PVOID, bufs: *const WSABUF, n: c_int) -> BOOL {
    guard(FALSE, || {
        let c = client_or_false!(p);
        // SAFETY: per the contract.
        match unsafe { buffers(bufs, n) } {
            Some(parts) => done(c.send_packets(&parts)),
            None => {
                set_errno(libc::EINVAL);
                FALSE
            }
        }
    })
}

/// Pauses (TRUE) or resumes reading.
#[no_mangle]
pub extern "C" fn HP_Client_PauseReceive(p: PVOID, pause: BOOL) -> BOOL {
    guard(FALSE, || {
        let c = client_or_false!(p);
        let r = done(c.pause_receive(pause != 0));
        if r == TRUE {
            if let Some(h) = client(p) {
                h.mark_paused(0, pause != 0);
            }
        }
        r
    })
}

/// Whether reading is paused (by PauseReceive).
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_IsPauseReceive(p: PVOID, out: *mut BOOL) -> BOOL {
    guard(FALSE, || {
        client_or_false!(p);
        let paused = client(p).is_some_and(|h| h.paused().contains(&0));
        crate::complex::put(Some(b(paused)), out)
    })
}

/// Attaches an application value to the client (before or after Start; kept across starts).
#[no_mangle]
pub extern "C" fn HP_Client_SetExtra(p: PVOID, extra: PVOID) {
    guard((), || {
        if let Some(h) = client(p) {
            h.extra
                .store(extra as usize, std::sync::atomic::Ordering::Relaxed);
        }
    })
}

/// The application value (NULL when none was set).
#[no_mangle]
pub extern "C" fn HP_Client_GetExtra(p: PVOID) -> PVOID {
    guard(std::ptr::null_mut(), || {
        client(p).map_or(std::ptr::null_mut(), |h| {
            h.extra.load(std::sync::atomic::Ordering::Relaxed) as PVOID
        })
    })
}

/// Whether the connection uses TLS.
#[no_mangle]
pub extern "C" fn HP_Client_IsSecure(p: PVOID) -> BOOL {
    guard(
        FALSE,
        || b(client(p).is_some_and(|h| h.cfg().tls.is_some())),
    )
}

/// TRUE while starting or started.
#[no_mangle]
pub extern "C" fn HP_Client_HasStarted(p: PVOID) -> BOOL {
    guard(FALSE, || {
        b(running(p)
            .is_ok_and(|c| matches!(c.state(), ServiceState::Started | ServiceState::Starting)))
    })
}

/// The service state.
#[no_mangle]
pub extern "C" fn HP_Client_GetState(p: PVOID) -> c_int {
    guard(ss::SS_STOPPED, || {
        crate::complex::state_code(running(p).ok().map(|c| c.state()))
    })
}

/// The last error of a start.
#[no_mangle]
pub extern "C" fn HP_Client_GetLastError(p: PVOID) -> c_int {
    guard(se::SE_INVALID_PARAM, || {
        client(p).map_or(se::SE_INVALID_PARAM, |h| h.err.code())
    })
}

/// The text of the last error.
#[no_mangle]
pub extern "C" fn HP_Client_GetLastErrorDesc(p: PVOID) -> *const c_char {
    guard(std::ptr::null(), || {
        client(p).map_or(std::ptr::null(), |h| h.err.desc())
    })
}

/// The connection's id (0 before the first start).
#[no_mangle]
pub extern "C" fn HP_Client_GetConnectionID(p: PVOID) -> HP_CONNID {
    guard(0, || {
        running(p).map_or(0, |c| c.conn_id().as_u64() as HP_CONNID)
    })
}

/// The local address (HP's buffer protocol).
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_GetLocalAddress(
    p: PVOID,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    guard(FALSE, || {
        crate::complex::addr_of(client_or_false!(p).local_addr(), buf, len, port)
    })
}

/// The server's address (shardnet keeps the address, not the host name).
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_GetRemoteHost(
    p: PVOID,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    guard(FALSE, || {
        crate::complex::addr_of(client_or_false!(p).remote_addr(), buf, len, port)
    })
}

/// Bytes queued and not yet written.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn HP_Client_GetPendingDataLength(p: PVOID, out: *mut c_int) -> BOOL {
    guard(FALSE, || {
        let c = client_or_false!(p);
        crate::complex::put(
            c.pending_data_length()
                .map(|n| n.min(c_int::MAX as usize) as c_int),
            out,
        )
    })
}

/// Whether the connection is open.
#[no_mangle]
pub extern "C" fn HP_Client_IsConnected(p: PVOID) -> BOOL {
    guard(FALSE, || b(running(p).is_ok_and(|c| c.is_connected())))
}

/// Sends a file of at most 4 MiB between an optional head and tail.
///
/// # Safety
/// `name` a C string; `head`/`tail` NULL or valid WSABUFs.
#[no_mangle]
pub unsafe extern "C" fn HP_TcpClient_SendSmallFile(
    p: PVOID,
    name: LPCTSTR,
    head: *const WSABUF,
    tail: *const WSABUF,
) -> BOOL {
    guard(FALSE, || {
        let c = client_or_false!(p);
        // SAFETY: per the contract.
        let parts = unsafe {
            (
                text(name),
                crate::complex::one(head),
                crate::complex::one(tail),
            )
        };
        let (Some(path), Some(h), Some(t)) = parts else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        done(c.send_small_file(path, h, t))
    })
}

fn fetch(p: PVOID, buf: *mut u8, len: c_int, peek: bool) -> c_int {
    let Ok(c) = running(p) else {
        return fr::FR_DATA_NOT_FOUND;
    };
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
    let r = if peek { c.peek(slice) } else { c.fetch(slice) };
    match r {
        shardnet_components::FetchResult::Ok => fr::FR_OK,
        shardnet_components::FetchResult::LengthTooLong => fr::FR_LENGTH_TOO_LONG,
        shardnet_components::FetchResult::DataNotFound => fr::FR_DATA_NOT_FOUND,
    }
}

/// Pull: copies and consumes the first `len` buffered bytes.
///
/// # Safety
/// `buf` has `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_TcpPullClient_Fetch(p: PVOID, buf: *mut u8, len: c_int) -> c_int {
    guard(fr::FR_DATA_NOT_FOUND, || fetch(p, buf, len, false))
}

/// Pull: copies the first `len` buffered bytes, leaving them buffered.
///
/// # Safety
/// `buf` has `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_TcpPullClient_Peek(p: PVOID, buf: *mut u8, len: c_int) -> c_int {
    guard(fr::FR_DATA_NOT_FOUND, || fetch(p, buf, len, true))
}

crate::settings::settings!(client:
    reuse(HP_Client_SetReuseAddressPolicy, HP_Client_GetReuseAddressPolicy);
    knob_client_pool_size(HP_Client_SetFreeBufferPoolSize, HP_Client_GetFreeBufferPoolSize);
    knob_client_pool_hold(HP_Client_SetFreeBufferPoolHold, HP_Client_GetFreeBufferPoolHold);
    buffer_size(HP_TcpClient_SetSocketBufferSize, HP_TcpClient_GetSocketBufferSize);
    keepalive_time(HP_TcpClient_SetKeepAliveTime, HP_TcpClient_GetKeepAliveTime);
    keepalive_interval(HP_TcpClient_SetKeepAliveInterval, HP_TcpClient_GetKeepAliveInterval);
    no_delay(HP_TcpClient_SetNoDelay, HP_TcpClient_IsNoDelay);
    max_pack(HP_TcpPackClient_SetMaxPackSize, HP_TcpPackClient_GetMaxPackSize);
    pack_flag(HP_TcpPackClient_SetPackHeaderFlag, HP_TcpPackClient_GetPackHeaderFlag);
);
