//! `HP_TcpServer`, `HP_TcpPullServer`, `HP_TcpPackServer`: `Create_`/`Destroy_`, the
//! `HP_Server_*` (for the UDP servers of `udp.rs` too) / `HP_TcpServer_*` calls, Pull's `Fetch`/`Peek`, Pack's settings; and the
//! bridge that turns shardnet's listener calls into the C program's callbacks.

use crate::any_server::AnyServer;
use crate::complex::{self as cx, running_or_false};
use crate::error::guard;
use crate::handle::{handle, Handle, Model};
use crate::listener::{call, ServerFns};
use crate::types::*;
use shardnet_components::{HandleResult, ServerListener, SocketOperation, TcpServer};
use shardnet_runtime::ConnId;
use std::ffi::{c_char, c_int};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

type ServerC = Handle<AnyServer, ServerFns>;

/// `En_HP_HandleResult` → HandleResult (anything unknown is an error).
pub(crate) fn hr_of(v: c_int) -> HandleResult {
    match v {
        hr::HR_OK => HandleResult::Ok,
        hr::HR_IGNORE => HandleResult::Ignore,
        _ => HandleResult::Error,
    }
}

/// The listener shardnet calls: each call goes to the C callback, with the C handle as sender.
struct Bridge {
    /// A copy of the listener's table made at Start (HP: callbacks are set before Start),
    /// so destroying the listener while the component winds down frees nothing it reads.
    fns: ServerFns,
    sender: PVOID,
}

// SAFETY: the callback table and the handle outlive the component (HP's life cycle: destroy
// the component, then the listener) and are only read here; the C callbacks are called from
// shard threads, which is HP-Socket's contract too (its worker threads).
unsafe impl Send for Bridge {}
// SAFETY: as above.
unsafe impl Sync for Bridge {}

impl Bridge {
    fn fns(&self) -> &ServerFns {
        &self.fns
    }
}

fn id(c: ConnId) -> HP_CONNID {
    c.as_u64() as HP_CONNID
}

impl ServerListener for Bridge {
    fn on_prepare_listen(&self, t: &TcpServer, s: BorrowedFd<'_>, _: SocketAddr) -> HandleResult {
        if let Some(h) = server(self.sender) {
            h.adopt_with(|| AnyServer::Tcp(t.clone()));
        }
        // HP's OnPrepareListen has no connection id: the socket goes where the id would.
        match self.fns().prepare_listen {
            // SAFETY: a C callback with HP's signature.
            Some(f) => hr_of(unsafe { f(self.sender, s.as_raw_fd() as UINT_PTR) }),
            None => HandleResult::Ignore,
        }
    }
    fn on_accept(
        &self,
        t: &TcpServer,
        c: ConnId,
        peer: SocketAddr,
        s: BorrowedFd<'_>,
    ) -> HandleResult {
        if let Some(h) = server(self.sender) {
            h.adopt_with(|| AnyServer::Tcp(t.clone()));
        }
        if self.fns().accept.is_none() {
            return HandleResult::Ignore;
        }
        // The connection is not open yet: its addresses come from here for the callback's
        // GetRemoteAddress / GetLocalAddress (HP answers them in OnAccept).
        let local = socket2::SockRef::from(&s)
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket());
        with_accepting(c, peer, local, || {
            call::socket(self.fns().accept, self.sender, id(c), s.as_raw_fd())
        })
    }
    fn on_handshake(&self, _: &TcpServer, c: ConnId) -> HandleResult {
        call::conn(self.fns().handshake, self.sender, id(c))
    }
    fn on_receive(&self, _: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        call::data(self.fns().receive, self.sender, id(c), d)
    }
    fn on_pull_receive(&self, _: &TcpServer, c: ConnId, total: usize) -> HandleResult {
        call::length(self.fns().pull_receive, self.sender, id(c), total)
    }
    fn on_send(&self, _: &TcpServer, c: ConnId, d: &[u8]) -> HandleResult {
        call::data(self.fns().send, self.sender, id(c), d)
    }
    fn on_close(&self, _: &TcpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        call::close(self.fns().close, self.sender, id(c), op as c_int, e);
        if let Some(h) = server(self.sender) {
            h.forget(c.as_u64());
        }
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpServer) -> HandleResult {
        call::sender(self.fns().shutdown, self.sender);
        HandleResult::Ok
    }
}

thread_local! {
    /// The connection in `OnAccept` on this thread: (id, remote, local).
    static ACCEPTING: std::cell::Cell<Option<(u64, SocketAddr, Option<SocketAddr>)>> =
        const { std::cell::Cell::new(None) };
}

/// Runs `f` (a connection's `OnAccept`) with the connection's addresses known to this thread.
pub(crate) fn with_accepting<R>(
    c: ConnId,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    f: impl FnOnce() -> R,
) -> R {
    ACCEPTING.with(|a| a.set(Some((c.as_u64(), peer, local))));
    let r = f();
    ACCEPTING.with(|a| a.set(None));
    r
}

/// Addresses of a connection whose `OnAccept` runs on this thread (remote, local).
pub(crate) fn accepting(c: ConnId) -> Option<(SocketAddr, Option<SocketAddr>)> {
    ACCEPTING
        .with(|a| a.get())
        .filter(|a| a.0 == c.as_u64())
        .map(|a| (a.1, a.2))
}

pub(crate) fn create(l: PVOID, model: Model) -> PVOID {
    crate::handle::create::<AnyServer, ServerFns>(l, model)
}

crate::handle::creators!(AnyServer, ServerFns:
    Create_HP_TcpServer => Push,
    Create_HP_TcpPullServer => Pull,
    Create_HP_TcpPackServer => Pack
);

crate::handle::destroyers!(AnyServer, ServerFns:
    Destroy_HP_TcpServer,
    Destroy_HP_TcpPullServer,
    Destroy_HP_TcpPackServer
);

pub(crate) fn server<'a>(p: PVOID) -> Option<&'a ServerC> {
    // SAFETY: the C contract: NULL or a live server handle.
    unsafe { handle::<AnyServer, ServerFns>(p) }
}

/// Starts listening on `address:port` (NULL or "" = 0.0.0.0).
///
/// # Safety
/// `p` is a live server; `addr` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_Server_Start(p: PVOID, addr: LPCTSTR, port: USHORT) -> BOOL {
    guard(FALSE, || {
        let Some(h) = server(p) else {
            crate::error::set_errno(libc::EINVAL);
            return FALSE;
        };
        if h.get()
            .is_some_and(|s| !matches!(s.state(), shardnet_components::ServiceState::Stopped))
        {
            h.err
                .set(se::SE_ILLEGAL_STATE, "already started", libc::EPERM);
            return FALSE;
        }
        if h.ssl_missing() {
            return FALSE;
        }
        // SAFETY: per the contract.
        let ip = match unsafe { text(addr) } {
            None | Some("") => "0.0.0.0",
            Some(a) => a,
        };
        let bind = if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        if matches!(h.model, Model::Udp | Model::Arq) {
            return crate::udp::start_server(h, p, &bind);
        }
        if h.model == Model::Http {
            return crate::http_server::start(h, p, &bind);
        }
        let mut b = TcpServer::builder().config(h.cfg().clone());
        b = match h.model {
            // (UDP handles never reach here: they start in udp.rs.)
            Model::Push | Model::Udp | Model::Arq | Model::Cast | Model::Http | Model::HttpSync => {
                b
            }
            Model::Pull => b.pull(),
            Model::Pack => b.pack(*h.pack_cfg()),
        };
        let bridge = Bridge {
            // SAFETY: the listener is live at Start (HP's life cycle).
            fns: unsafe { *h.fns },
            sender: p,
        };
        h.clear_running();
        match b.start(&bind, std::sync::Arc::new(bridge)) {
            Ok(s) => {
                h.install(AnyServer::Tcp(s));
                h.err.set(se::SE_OK, "SUCCESS", 0);
                TRUE
            }
            Err(e) => {
                h.err.from(&e);
                FALSE
            }
        }
    })
}

macro_rules! complex_exports {
    ($c:ty, $f:ty, $getter:ident:
        stop: $stop:ident, wait: $wait:ident, send: $send:ident, send_part: $send_part:ident,
        send_packets: $send_packets:ident, pause: $pause:ident, is_paused: $is_paused:ident,
        disconnect: $disconnect:ident,
        long: $long:ident, silence: $silence:ident, set_extra: $set_extra:ident,
        get_extra: $get_extra:ident, has_started: $has_started:ident, state: $state:ident,
        last_error: $last_error:ident, last_error_desc: $last_error_desc:ident,
        pending: $pending:ident, is_connected: $is_connected:ident, count: $count:ident,
        all_ids: $all_ids:ident, connect_period: $connect_period:ident,
        silence_period: $silence_period:ident, local: $local:ident, remote: $remote:ident,
        small_file: $small_file:ident, fetch: $fetch:ident, peek: $peek:ident,
    ) => {
        /// Stops the component: returns once stopped (inside a callback: without waiting).
        #[no_mangle]
        pub extern "C" fn $stop(p: PVOID) -> BOOL {
            guard(FALSE, || cx::stop(&*running_or_false!($c, $f, p)))
        }
        /// Waits up to `ms` (0xFFFFFFFF: forever) for the component to stop; TRUE if it did
        /// (at once for one never started, as HP).
        #[no_mangle]
        pub extern "C" fn $wait(p: PVOID, ms: DWORD) -> BOOL {
            guard(FALSE, || match $getter(p) {
                Some(h) => h.get().map_or(TRUE, |s| cx::wait(&*s, ms)),
                None => {
                    crate::error::set_errno(libc::EINVAL);
                    FALSE
                }
            })
        }
        /// Sends `len` bytes to a connection (queued; OnSend reports them written).
        ///
        /// # Safety
        /// `buf` has `len` readable bytes.
        #[no_mangle]
        pub unsafe extern "C" fn $send(p: PVOID, c: HP_CONNID, buf: *const u8, len: c_int) -> BOOL {
            guard(FALSE, || {
                cx::send(&*running_or_false!($c, $f, p), c, buf, len, 0)
            })
        }
        /// Sends `len` bytes from `buf + off`.
        ///
        /// # Safety
        /// `buf + off` has `len` readable bytes.
        #[no_mangle]
        pub unsafe extern "C" fn $send_part(
            p: PVOID,
            c: HP_CONNID,
            buf: *const u8,
            len: c_int,
            off: c_int,
        ) -> BOOL {
            guard(FALSE, || {
                cx::send(&*running_or_false!($c, $f, p), c, buf, len, off)
            })
        }
        /// Sends several buffers as one write (Pack: as one message).
        ///
        /// # Safety
        /// `bufs` has `n` valid WSABUFs.
        #[no_mangle]
        pub unsafe extern "C" fn $send_packets(
            p: PVOID,
            c: HP_CONNID,
            bufs: *const WSABUF,
            n: c_int,
        ) -> BOOL {
            guard(FALSE, || {
                cx::send_packets(&*running_or_false!($c, $f, p), c, bufs, n)
            })
        }
        /// Pauses (TRUE) or resumes reading a connection.
        #[no_mangle]
        pub extern "C" fn $pause(p: PVOID, c: HP_CONNID, pause: BOOL) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                let r = crate::error::done(s.pause_receive(cx::conn(c), pause != 0));
                if r == TRUE {
                    if let Some(h) = $getter(p) {
                        h.mark_paused(c as u64, pause != 0);
                    }
                }
                r
            })
        }
        /// Whether reading a connection is paused (by PauseReceive).
        ///
        /// # Safety
        /// `out` is writable.
        #[no_mangle]
        pub unsafe extern "C" fn $is_paused(p: PVOID, c: HP_CONNID, out: *mut BOOL) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                if !s.is_connected(cx::conn(c)) {
                    crate::error::set_errno(libc::ENOENT);
                    return FALSE;
                }
                let paused = $getter(p).is_some_and(|h| h.paused().contains(&(c as u64)));
                cx::put(Some(b(paused)), out)
            })
        }
        /// Closes a connection: gracefully after its queue, or at once with `force`.
        #[no_mangle]
        pub extern "C" fn $disconnect(p: PVOID, c: HP_CONNID, force: BOOL) -> BOOL {
            guard(FALSE, || {
                crate::error::done(running_or_false!($c, $f, p).disconnect(cx::conn(c), force != 0))
            })
        }
        /// Closes the connections older than `period` ms.
        #[no_mangle]
        pub extern "C" fn $long(p: PVOID, period: DWORD, force: BOOL) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                s.disconnect_long_connections(Duration::from_millis(period as u64), force != 0);
                TRUE
            })
        }
        /// Closes the connections silent for longer than `period` ms.
        #[no_mangle]
        pub extern "C" fn $silence(p: PVOID, period: DWORD, force: BOOL) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                s.disconnect_silence_connections(Duration::from_millis(period as u64), force != 0);
                TRUE
            })
        }
        /// Attaches an application value to a connection.
        #[no_mangle]
        pub extern "C" fn $set_extra(p: PVOID, c: HP_CONNID, extra: PVOID) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                let ok = s.set_extra(cx::conn(c), extra as usize as u64);
                if !ok {
                    crate::error::set_errno(libc::ENOENT);
                }
                b(ok)
            })
        }
        /// Reads a connection's application value.
        ///
        /// # Safety
        /// `out` is writable.
        #[no_mangle]
        pub unsafe extern "C" fn $get_extra(p: PVOID, c: HP_CONNID, out: *mut PVOID) -> BOOL {
            guard(FALSE, || {
                cx::get_extra(&*running_or_false!($c, $f, p), c, out)
            })
        }
        /// TRUE while starting or started.
        #[no_mangle]
        pub extern "C" fn $has_started(p: PVOID) -> BOOL {
            guard(FALSE, || {
                let st = $getter(p).and_then(|h| h.get().map(|s| s.state()));
                b(matches!(
                    st,
                    Some(
                        shardnet_components::ServiceState::Started
                            | shardnet_components::ServiceState::Starting
                    )
                ))
            })
        }
        /// The service state (SS_STOPPED before the first start).
        #[no_mangle]
        pub extern "C" fn $state(p: PVOID) -> c_int {
            guard(ss::SS_STOPPED, || {
                cx::state_code($getter(p).and_then(|h| h.get().map(|s| s.state())))
            })
        }
        /// The last error of a start or stop.
        #[no_mangle]
        pub extern "C" fn $last_error(p: PVOID) -> c_int {
            guard(se::SE_INVALID_PARAM, || {
                $getter(p).map_or(se::SE_INVALID_PARAM, |h| h.err.code())
            })
        }
        /// The text of the last error (valid until the next one).
        #[no_mangle]
        pub extern "C" fn $last_error_desc(p: PVOID) -> *const c_char {
            guard(std::ptr::null(), || {
                $getter(p).map_or(std::ptr::null(), |h| h.err.desc())
            })
        }
        /// Bytes queued and not yet written for a connection.
        ///
        /// # Safety
        /// `out` is writable.
        #[no_mangle]
        pub unsafe extern "C" fn $pending(p: PVOID, c: HP_CONNID, out: *mut c_int) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                cx::put(
                    s.pending_data_length(cx::conn(c))
                        .map(|n| n.min(c_int::MAX as usize) as c_int),
                    out,
                )
            })
        }
        /// Whether a connection is open.
        #[no_mangle]
        pub extern "C" fn $is_connected(p: PVOID, c: HP_CONNID) -> BOOL {
            guard(FALSE, || {
                b(running_or_false!($c, $f, p).is_connected(cx::conn(c)))
            })
        }
        /// Open connections.
        #[no_mangle]
        pub extern "C" fn $count(p: PVOID) -> DWORD {
            guard(0, || {
                $getter(p)
                    .and_then(|h| h.get().map(|s| s.connection_count() as DWORD))
                    .unwrap_or(0)
            })
        }
        /// Every open connection's id (HP's protocol: `*count` in = room, out = needed).
        ///
        /// # Safety
        /// `ids` has `*count` writable slots; `count` is valid.
        #[no_mangle]
        pub unsafe extern "C" fn $all_ids(
            p: PVOID,
            ids: *mut HP_CONNID,
            count: *mut DWORD,
        ) -> BOOL {
            guard(FALSE, || {
                cx::all_ids(&*running_or_false!($c, $f, p), ids, count)
            })
        }
        /// Milliseconds since the connection opened.
        ///
        /// # Safety
        /// `out` is writable.
        #[no_mangle]
        pub unsafe extern "C" fn $connect_period(p: PVOID, c: HP_CONNID, out: *mut DWORD) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                cx::put(s.connect_period(cx::conn(c)).map(cx::ms), out)
            })
        }
        /// Milliseconds since the connection last received.
        ///
        /// # Safety
        /// `out` is writable.
        #[no_mangle]
        pub unsafe extern "C" fn $silence_period(p: PVOID, c: HP_CONNID, out: *mut DWORD) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                cx::put(s.silence_period(cx::conn(c)).map(cx::ms), out)
            })
        }
        /// A connection's local address (HP's buffer protocol).
        ///
        /// # Safety
        /// `buf` has `*len` writable bytes; `len` and `port` valid.
        #[no_mangle]
        pub unsafe extern "C" fn $local(
            p: PVOID,
            c: HP_CONNID,
            buf: *mut c_char,
            len: *mut c_int,
            port: *mut USHORT,
        ) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                cx::conn_addr(s.local_addr(cx::conn(c)), c, false, buf, len, port)
            })
        }
        /// A connection's remote address (HP's buffer protocol).
        ///
        /// # Safety
        /// `buf` has `*len` writable bytes; `len` and `port` valid.
        #[no_mangle]
        pub unsafe extern "C" fn $remote(
            p: PVOID,
            c: HP_CONNID,
            buf: *mut c_char,
            len: *mut c_int,
            port: *mut USHORT,
        ) -> BOOL {
            guard(FALSE, || {
                let s = running_or_false!($c, $f, p);
                cx::conn_addr(s.remote_addr(cx::conn(c)), c, true, buf, len, port)
            })
        }
        /// Sends a file of at most 4 MiB between an optional head and tail.
        ///
        /// # Safety
        /// `name` a C string; `head`/`tail` NULL or valid WSABUFs.
        #[no_mangle]
        pub unsafe extern "C" fn $small_file(
            p: PVOID,
            c: HP_CONNID,
            name: LPCTSTR,
            head: *const WSABUF,
            tail: *const WSABUF,
        ) -> BOOL {
            guard(FALSE, || {
                cx::small_file(&*running_or_false!($c, $f, p), c, name, head, tail)
            })
        }
        /// Pull: copies and consumes the first `len` buffered bytes.
        ///
        /// # Safety
        /// `buf` has `len` writable bytes.
        #[no_mangle]
        pub unsafe extern "C" fn $fetch(p: PVOID, c: HP_CONNID, buf: *mut u8, len: c_int) -> c_int {
            guard(fr::FR_DATA_NOT_FOUND, || match cx::running::<$c, $f>(p) {
                Ok(s) => cx::fetch(&*s, c, buf, len, false),
                Err(_) => fr::FR_DATA_NOT_FOUND,
            })
        }
        /// Pull: copies the first `len` buffered bytes, leaving them buffered.
        ///
        /// # Safety
        /// `buf` has `len` writable bytes.
        #[no_mangle]
        pub unsafe extern "C" fn $peek(p: PVOID, c: HP_CONNID, buf: *mut u8, len: c_int) -> c_int {
            guard(fr::FR_DATA_NOT_FOUND, || match cx::running::<$c, $f>(p) {
                Ok(s) => cx::fetch(&*s, c, buf, len, true),
                Err(_) => fr::FR_DATA_NOT_FOUND,
            })
        }
    };
}
pub(crate) use complex_exports;

complex_exports!(AnyServer, ServerFns, server:
    stop: HP_Server_Stop, wait: HP_Server_Wait, send: HP_Server_Send,
    send_part: HP_Server_SendPart, send_packets: HP_Server_SendPackets,
    pause: HP_Server_PauseReceive, is_paused: HP_Server_IsPauseReceive,
    disconnect: HP_Server_Disconnect,
    long: HP_Server_DisconnectLongConnections, silence: HP_Server_DisconnectSilenceConnections,
    set_extra: HP_Server_SetConnectionExtra, get_extra: HP_Server_GetConnectionExtra,
    has_started: HP_Server_HasStarted, state: HP_Server_GetState,
    last_error: HP_Server_GetLastError, last_error_desc: HP_Server_GetLastErrorDesc,
    pending: HP_Server_GetPendingDataLength, is_connected: HP_Server_IsConnected,
    count: HP_Server_GetConnectionCount, all_ids: HP_Server_GetAllConnectionIDs,
    connect_period: HP_Server_GetConnectPeriod, silence_period: HP_Server_GetSilencePeriod,
    local: HP_Server_GetLocalAddress, remote: HP_Server_GetRemoteAddress,
    small_file: HP_TcpServer_SendSmallFile, fetch: HP_TcpPullServer_Fetch,
    peek: HP_TcpPullServer_Peek,
);

/// The address the server listens on.
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn HP_Server_GetListenAddress(
    p: PVOID,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    guard(FALSE, || {
        let s = running_or_false!(AnyServer, ServerFns, p);
        cx::addr_of(s.listen_addr(), buf, len, port)
    })
}

/// FALSE: this library's TCP servers are plain (TLS comes with the SSL functions).
#[no_mangle]
pub extern "C" fn HP_Server_IsSecure(p: PVOID) -> BOOL {
    guard(
        FALSE,
        || b(server(p).is_some_and(|h| h.cfg().tls.is_some())),
    )
}

crate::settings::settings!(server:
    reuse(HP_Server_SetReuseAddressPolicy, HP_Server_GetReuseAddressPolicy);
    send_policy(HP_Server_SetSendPolicy, HP_Server_GetSendPolicy);
    knob_on_send_sync(HP_Server_SetOnSendSyncPolicy, HP_Server_GetOnSendSyncPolicy);
    knob_lock_time(HP_Server_SetFreeSocketObjLockTime, HP_Server_GetFreeSocketObjLockTime);
    knob_socket_pool(HP_Server_SetFreeSocketObjPool, HP_Server_GetFreeSocketObjPool);
    knob_buffer_pool(HP_Server_SetFreeBufferObjPool, HP_Server_GetFreeBufferObjPool);
    knob_socket_hold(HP_Server_SetFreeSocketObjHold, HP_Server_GetFreeSocketObjHold);
    knob_buffer_hold(HP_Server_SetFreeBufferObjHold, HP_Server_GetFreeBufferObjHold);
    max_connections(HP_Server_SetMaxConnectionCount, HP_Server_GetMaxConnectionCount);
    workers(HP_Server_SetWorkerThreadCount, HP_Server_GetWorkerThreadCount);
    mark_silence(HP_Server_SetMarkSilence, HP_Server_IsMarkSilence);
    buffer_size(HP_TcpServer_SetSocketBufferSize, HP_TcpServer_GetSocketBufferSize);
    keepalive_time(HP_TcpServer_SetKeepAliveTime, HP_TcpServer_GetKeepAliveTime);
    keepalive_interval(HP_TcpServer_SetKeepAliveInterval, HP_TcpServer_GetKeepAliveInterval);
    no_delay(HP_TcpServer_SetNoDelay, HP_TcpServer_IsNoDelay);
    max_pack(HP_TcpPackServer_SetMaxPackSize, HP_TcpPackServer_GetMaxPackSize);
    pack_flag(HP_TcpPackServer_SetPackHeaderFlag, HP_TcpPackServer_GetPackHeaderFlag);
);

/// `listen()` backlog.
#[no_mangle]
pub extern "C" fn HP_TcpServer_SetSocketListenQueue(p: PVOID, n: DWORD) {
    if let Some(h) = server(p) {
        h.cfg().listen_backlog = n.min(i32::MAX as u32) as i32;
    }
}
/// `listen()` backlog.
#[no_mangle]
pub extern "C" fn HP_TcpServer_GetSocketListenQueue(p: PVOID) -> DWORD {
    server(p).map_or(0, |h| h.cfg().listen_backlog.max(0) as DWORD)
}
/// Kept for the getter (shardnet accepts in batches per shard; there are no posted accepts).
#[no_mangle]
pub extern "C" fn HP_TcpServer_SetAcceptSocketCount(p: PVOID, n: DWORD) {
    if let Some(h) = server(p) {
        h.knobs().accept_socket_count = n;
    }
}
/// What `HP_TcpServer_SetAcceptSocketCount` set.
#[no_mangle]
pub extern "C" fn HP_TcpServer_GetAcceptSocketCount(p: PVOID) -> DWORD {
    server(p).map_or(0, |h| h.knobs().accept_socket_count)
}
