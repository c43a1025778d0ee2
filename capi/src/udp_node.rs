//! `HP_UdpNode`: HP's connectionless UDP endpoint (`send_to` any address, `OnReceive` with the
//! sender's address and port; started with a cast mode it is a multicast or broadcast group
//! member) on shardnet's `UdpNode`: `Create_`/`Destroy_`, its listener and `HP_Set_FN_UdpNode_*`
//! callbacks, and every `HP_UdpNode_*` call.

use crate::error::{done, guard, set_errno};
use crate::handle::{handle, Handle};
use crate::server::hr_of;
use crate::types::*;
use shardnet_components::udp::{CastMode, UdpNode, UdpNodeListener};
use shardnet_components::{HandleResult, ServiceState, SocketOperation};
use std::ffi::{c_char, c_int};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

/// `HP_FN_UdpNode_OnPrepareListen`.
pub type FnNodePrepareListen = unsafe extern "C" fn(PVOID, UINT_PTR) -> c_int;
/// `HP_FN_UdpNode_OnSend` / `OnReceive`: (sender, address, port, data, length).
pub type FnNodeData = unsafe extern "C" fn(PVOID, *const c_char, USHORT, *const u8, c_int) -> c_int;
/// `HP_FN_UdpNode_OnError`: (sender, operation, error code, address, port, data, length).
pub type FnNodeError =
    unsafe extern "C" fn(PVOID, c_int, c_int, *const c_char, USHORT, *const u8, c_int) -> c_int;
/// `HP_FN_UdpNode_OnShutdown`.
pub type FnNodeShutdown = unsafe extern "C" fn(PVOID) -> c_int;

/// A node listener's callbacks.
#[derive(Default, Clone, Copy)]
pub struct NodeFns {
    prepare_listen: Option<FnNodePrepareListen>,
    send: Option<FnNodeData>,
    receive: Option<FnNodeData>,
    error: Option<FnNodeError>,
    shutdown: Option<FnNodeShutdown>,
}

crate::listener::setters! { NodeFns:
    HP_Set_FN_UdpNode_OnPrepareListen => prepare_listen: FnNodePrepareListen;
    HP_Set_FN_UdpNode_OnSend => send: FnNodeData;
    HP_Set_FN_UdpNode_OnReceive => receive: FnNodeData;
    HP_Set_FN_UdpNode_OnError => error: FnNodeError;
    HP_Set_FN_UdpNode_OnShutdown => shutdown: FnNodeShutdown;
}

crate::listener::listener_life! { NodeFns:
    Create_HP_UdpNodeListener, Destroy_HP_UdpNodeListener;
}

type NodeC = Handle<UdpNode, NodeFns>;

fn node<'a>(p: PVOID) -> Option<&'a NodeC> {
    // SAFETY: the C contract: NULL or a live node handle.
    unsafe { handle::<UdpNode, NodeFns>(p) }
}

crate::handle::creators!(UdpNode, NodeFns: Create_HP_UdpNode => Udp);
crate::handle::destroyers!(UdpNode, NodeFns: Destroy_HP_UdpNode);

/// An IP address as a NUL-terminated C string on the stack.
struct CAddr([u8; 48]);

impl CAddr {
    fn of(ip: IpAddr) -> CAddr {
        use std::io::Write;
        let mut b = [0u8; 48];
        let mut w = &mut b[..47];
        let _ = write!(w, "{ip}");
        CAddr(b)
    }
    fn ptr(&self) -> *const c_char {
        self.0.as_ptr() as *const c_char
    }
}

struct NodeBridge {
    fns: NodeFns,
    sender: PVOID,
}

// SAFETY: as the other bridges: a copy of the table, a handle that outlives the node, and
// callbacks on the node's shard threads (HP's worker threads).
unsafe impl Send for NodeBridge {}
// SAFETY: as above.
unsafe impl Sync for NodeBridge {}

impl NodeBridge {
    fn adopt(&self, n: &UdpNode) {
        if let Some(h) = node(self.sender) {
            h.adopt_with(|| n.clone());
        }
    }
    fn data(&self, f: Option<FnNodeData>, a: SocketAddr, d: &[u8]) -> HandleResult {
        match f {
            Some(f) => {
                let ip = CAddr::of(a.ip());
                // SAFETY: a C callback with HP's signature; the address string and the data
                // live for the call.
                hr_of(unsafe {
                    f(
                        self.sender,
                        ip.ptr(),
                        a.port(),
                        d.as_ptr(),
                        d.len() as c_int,
                    )
                })
            }
            None => HandleResult::Ignore,
        }
    }
}

impl UdpNodeListener for NodeBridge {
    fn on_prepare_listen(&self, n: &UdpNode, s: BorrowedFd<'_>, _: SocketAddr) -> HandleResult {
        self.adopt(n);
        match self.fns.prepare_listen {
            // SAFETY: a C callback with HP's signature.
            Some(f) => hr_of(unsafe { f(self.sender, s.as_raw_fd() as UINT_PTR) }),
            None => HandleResult::Ignore,
        }
    }
    fn on_receive(&self, n: &UdpNode, from: SocketAddr, d: &[u8]) -> HandleResult {
        self.adopt(n);
        self.data(self.fns.receive, from, d)
    }
    fn on_send(&self, _: &UdpNode, to: SocketAddr, d: &[u8]) -> HandleResult {
        self.data(self.fns.send, to, d)
    }
    fn on_error(
        &self,
        _: &UdpNode,
        op: SocketOperation,
        errno: i32,
        peer: Option<SocketAddr>,
    ) -> HandleResult {
        match self.fns.error {
            Some(f) => {
                let peer = peer.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
                let ip = CAddr::of(peer.ip());
                // SAFETY: a C callback with HP's signature; the address lives for the call
                // (shardnet does not keep the failed datagram: NULL, 0).
                hr_of(unsafe {
                    f(
                        self.sender,
                        op as c_int,
                        errno,
                        ip.ptr(),
                        peer.port(),
                        std::ptr::null(),
                        0,
                    )
                })
            }
            None => HandleResult::Ignore,
        }
    }
    fn on_shutdown(&self, _: &UdpNode) -> HandleResult {
        if let Some(f) = self.fns.shutdown {
            // SAFETY: a C callback with HP's signature.
            unsafe { f(self.sender) };
        }
        HandleResult::Ok
    }
}

fn start(p: PVOID, bind: LPCTSTR, port: USHORT, mode: c_int, cast: LPCTSTR) -> BOOL {
    let Some(h) = node(p) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    if h.get()
        .is_some_and(|n| !matches!(n.state(), ServiceState::Stopped))
    {
        h.err
            .set(se::SE_ILLEGAL_STATE, "already started", libc::EPERM);
        return FALSE;
    }
    // SAFETY: the C contract: NULL or C strings.
    let (bind, cast) = unsafe { (text(bind), text(cast)) };
    let ip = match bind {
        None | Some("") => "0.0.0.0",
        Some(a) => a,
    };
    let addr = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    let (ttl, loopback) = {
        let k = h.knobs();
        (k.multicast_ttl, k.multicast_loop)
    };
    let mode = match mode {
        cm::CM_MULTICAST => match cast.and_then(|c| c.parse::<IpAddr>().ok()) {
            Some(group) => CastMode::Multicast {
                group,
                ttl: ttl.clamp(0, 255) as u32,
                loopback,
            },
            None => {
                h.err
                    .set(se::SE_INVALID_PARAM, "no multicast group", libc::EINVAL);
                return FALSE;
            }
        },
        cm::CM_BROADCAST => CastMode::Broadcast(
            cast.and_then(|c| c.parse::<Ipv4Addr>().ok())
                .unwrap_or(Ipv4Addr::BROADCAST),
        ),
        _ => CastMode::Unicast,
    };
    let (max, batch) = {
        let c = h.udp();
        (c.max_datagram, c.recv_batch)
    };
    let mut b = UdpNode::builder()
        .cast(mode)
        .max_datagram(max)
        .recv_batch(batch);
    if let Some(n) = h.cfg().shards {
        b = b.shards(n);
    }
    let bridge = NodeBridge {
        // SAFETY: the listener is live at Start (HP's life cycle).
        fns: unsafe { *h.fns },
        sender: p,
    };
    h.clear_running();
    match b.start(&addr, Arc::new(bridge)) {
        Ok(n) => {
            h.adopt_with(|| n);
            h.err.set(se::SE_OK, "SUCCESS", 0);
            TRUE
        }
        Err(e) => {
            h.err.from(&e);
            FALSE
        }
    }
}

/// Binds `address:port` (NULL or "" = 0.0.0.0) and starts, without a group.
///
/// # Safety
/// `bind` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_Start(p: PVOID, bind: LPCTSTR, port: USHORT) -> BOOL {
    guard(FALSE, || {
        start(p, bind, port, cm::CM_UNICAST, std::ptr::null())
    })
}

/// Binds and starts as a member of a multicast group (`CM_MULTICAST`, `cast` the group) or a
/// broadcaster (`CM_BROADCAST`, `cast` the broadcast address; NULL: 255.255.255.255).
///
/// # Safety
/// `bind` and `cast` NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_StartWithCast(
    p: PVOID,
    bind: LPCTSTR,
    port: USHORT,
    mode: c_int,
    cast: LPCTSTR,
) -> BOOL {
    guard(FALSE, || start(p, bind, port, mode, cast))
}

fn running(p: PVOID) -> Result<crate::handle::Running<UdpNode>, BOOL> {
    match node(p) {
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

macro_rules! node_or_false {
    ($p:expr) => {
        match running($p) {
            Ok(n) => n,
            Err(v) => return v,
        }
    };
}

/// Stops: returns once stopped (inside a callback: without waiting).
#[no_mangle]
pub extern "C" fn HP_UdpNode_Stop(p: PVOID) -> BOOL {
    guard(FALSE, || {
        let n = node_or_false!(p);
        if matches!(n.state(), ServiceState::Stopped) {
            set_errno(libc::EPERM);
            return FALSE;
        }
        n.stop();
        if shardnet_runtime::Runtime::current().is_none() {
            let _ = n.wait_timeout(Duration::from_secs(60));
        }
        TRUE
    })
}

/// Waits up to `ms` (0xFFFFFFFF: forever) for the node to stop.
#[no_mangle]
pub extern "C" fn HP_UdpNode_Wait(p: PVOID, ms: DWORD) -> BOOL {
    guard(FALSE, || match node(p) {
        Some(h) => h.get().map_or(TRUE, |n| {
            let t = if ms == DWORD::MAX {
                Duration::from_secs(u64::MAX / 4)
            } else {
                Duration::from_millis(u64::from(ms))
            };
            b(n.wait_timeout(t).unwrap_or(false))
        }),
        None => {
            set_errno(libc::EINVAL);
            FALSE
        }
    })
}

fn to_addr(ip: LPCTSTR, port: USHORT) -> Option<SocketAddr> {
    // SAFETY: the C contract: a C string.
    let ip = unsafe { text(ip) }?;
    ip.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

fn send_parts(p: PVOID, to: Option<SocketAddr>, parts: Option<Vec<&[u8]>>) -> BOOL {
    let n = node_or_false!(p);
    match (to, parts) {
        (Some(to), Some(parts)) => done(n.send_packets_to(to, &parts)),
        _ => {
            set_errno(libc::EINVAL);
            FALSE
        }
    }
}

/// Sends one datagram to `address:port`.
///
/// # Safety
/// `addr` a C string; `buf` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_Send(
    p: PVOID,
    addr: LPCTSTR,
    port: USHORT,
    buf: *const u8,
    len: c_int,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: `len` readable bytes at `buf`, per the contract.
        let d = unsafe { bytes(buf, len) };
        send_parts(p, to_addr(addr, port), d.map(|d| vec![d]))
    })
}

/// Sends `len` bytes from `buf + off` to `address:port`.
///
/// # Safety
/// `addr` a C string; `buf + off` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_SendPart(
    p: PVOID,
    addr: LPCTSTR,
    port: USHORT,
    buf: *const u8,
    len: c_int,
    off: c_int,
) -> BOOL {
    guard(FALSE, || {
        if off < 0 || buf.is_null() {
            set_errno(libc::EINVAL);
            return FALSE;
        }
        // SAFETY: `buf + off` is valid per the contract.
        let d = unsafe { bytes(buf.add(off as usize), len) };
        send_parts(p, to_addr(addr, port), d.map(|d| vec![d]))
    })
}

/// Sends several buffers as one datagram to `address:port`.
///
/// # Safety
/// `addr` a C string; `bufs` has `n` valid WSABUFs.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_SendPackets(
    p: PVOID,
    addr: LPCTSTR,
    port: USHORT,
    bufs: *const WSABUF,
    n: c_int,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: `n` valid WSABUFs at `bufs`, per the contract.
        let parts = unsafe { buffers(bufs, n) };
        send_parts(p, to_addr(addr, port), parts)
    })
}

fn cast_to(p: PVOID) -> Option<SocketAddr> {
    running(p).ok().and_then(|n| n.cast_addr())
}

/// Sends one datagram to the group (or broadcast address).
///
/// # Safety
/// `buf` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_SendCast(p: PVOID, buf: *const u8, len: c_int) -> BOOL {
    guard(FALSE, || {
        // SAFETY: `len` readable bytes at `buf`, per the contract.
        let d = unsafe { bytes(buf, len) };
        send_parts(p, cast_to(p), d.map(|d| vec![d]))
    })
}

/// Sends `len` bytes from `buf + off` to the group.
///
/// # Safety
/// `buf + off` has `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_SendCastPart(
    p: PVOID,
    buf: *const u8,
    len: c_int,
    off: c_int,
) -> BOOL {
    guard(FALSE, || {
        if off < 0 || buf.is_null() {
            set_errno(libc::EINVAL);
            return FALSE;
        }
        // SAFETY: `buf + off` is valid per the contract.
        let d = unsafe { bytes(buf.add(off as usize), len) };
        send_parts(p, cast_to(p), d.map(|d| vec![d]))
    })
}

/// Sends several buffers as one datagram to the group.
///
/// # Safety
/// `bufs` has `n` valid WSABUFs.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_SendCastPackets(
    p: PVOID,
    bufs: *const WSABUF,
    n: c_int,
) -> BOOL {
    guard(FALSE, || {
        // SAFETY: `n` valid WSABUFs at `bufs`, per the contract.
        let parts = unsafe { buffers(bufs, n) };
        send_parts(p, cast_to(p), parts)
    })
}

/// Attaches an application value to the node.
#[no_mangle]
pub extern "C" fn HP_UdpNode_SetExtra(p: PVOID, extra: PVOID) {
    guard((), || {
        if let Some(h) = node(p) {
            h.extra
                .store(extra as usize, std::sync::atomic::Ordering::Relaxed);
        }
    })
}

/// The application value (NULL when none was set).
#[no_mangle]
pub extern "C" fn HP_UdpNode_GetExtra(p: PVOID) -> PVOID {
    guard(std::ptr::null_mut(), || {
        node(p).map_or(std::ptr::null_mut(), |h| {
            h.extra.load(std::sync::atomic::Ordering::Relaxed) as PVOID
        })
    })
}

/// TRUE while starting or started.
#[no_mangle]
pub extern "C" fn HP_UdpNode_HasStarted(p: PVOID) -> BOOL {
    guard(FALSE, || {
        b(running(p)
            .is_ok_and(|n| matches!(n.state(), ServiceState::Started | ServiceState::Starting)))
    })
}

/// The service state.
#[no_mangle]
pub extern "C" fn HP_UdpNode_GetState(p: PVOID) -> c_int {
    guard(ss::SS_STOPPED, || {
        crate::complex::state_code(running(p).ok().map(|n| n.state()))
    })
}

/// The last error of a start.
#[no_mangle]
pub extern "C" fn HP_UdpNode_GetLastError(p: PVOID) -> c_int {
    guard(se::SE_INVALID_PARAM, || {
        node(p).map_or(se::SE_INVALID_PARAM, |h| h.err.code())
    })
}

/// The text of the last error.
#[no_mangle]
pub extern "C" fn HP_UdpNode_GetLastErrorDesc(p: PVOID) -> *const c_char {
    guard(std::ptr::null(), || {
        node(p).map_or(std::ptr::null(), |h| h.err.desc())
    })
}

/// The bound address (HP's buffer protocol).
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_GetLocalAddress(
    p: PVOID,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    guard(FALSE, || {
        crate::complex::addr_of(node_or_false!(p).local_addr(), buf, len, port)
    })
}

/// The group (or broadcast) address and port.
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_GetCastAddress(
    p: PVOID,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    guard(FALSE, || {
        crate::complex::addr_of(node_or_false!(p).cast_addr(), buf, len, port)
    })
}

/// The cast mode the node started with (`CM_UNICAST` before a start).
#[no_mangle]
pub extern "C" fn HP_UdpNode_GetCastMode(p: PVOID) -> c_int {
    guard(cm::CM_UNICAST, || {
        match running(p).ok().map(|n| n.cast_mode()) {
            Some(CastMode::Multicast { .. }) => cm::CM_MULTICAST,
            Some(CastMode::Broadcast(_)) => cm::CM_BROADCAST,
            _ => cm::CM_UNICAST,
        }
    })
}

/// 0 while started: datagrams leave within the turn they were sent in.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpNode_GetPendingDataLength(p: PVOID, out: *mut c_int) -> BOOL {
    guard(FALSE, || {
        let n = node_or_false!(p);
        crate::complex::put(matches!(n.state(), ServiceState::Started).then_some(0), out)
    })
}

macro_rules! node_settings {
    ($($set:ident, $get:ident: $ty:ty, |$h:ident| $field:expr, $from:expr, $to:expr;)*) => {$(
        /// Setting (before Start).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: $ty) {
            guard((), || {
                if let Some($h) = node(p) {
                    #[allow(clippy::redundant_closure_call)]
                    let x = ($from)(v);
                    $field = x;
                }
            })
        }
        /// What the matching setter set (HP's default before).
        #[no_mangle]
        pub extern "C" fn $get(p: PVOID) -> $ty {
            guard(Default::default(), || {
                node(p).map_or(Default::default(), |$h| {
                    #[allow(clippy::redundant_closure_call)]
                    ($to)(&$field)
                })
            })
        }
    )*};
}

node_settings! {
    HP_UdpNode_SetMaxDatagramSize, HP_UdpNode_GetMaxDatagramSize: DWORD,
        |h| h.udp().max_datagram, |v: DWORD| v as usize, |x: &usize| *x as DWORD;
    HP_UdpNode_SetPostReceiveCount, HP_UdpNode_GetPostReceiveCount: DWORD,
        |h| h.udp().recv_batch, |v: DWORD| (v as usize).clamp(1, 1024), |x: &usize| *x as DWORD;
    HP_UdpNode_SetMultiCastTtl, HP_UdpNode_GetMultiCastTtl: c_int,
        |h| h.knobs().multicast_ttl, |v: c_int| v.clamp(0, 255), |x: &c_int| *x;
    HP_UdpNode_SetMultiCastLoop, HP_UdpNode_IsMultiCastLoop: BOOL,
        |h| h.knobs().multicast_loop, |v: BOOL| v != 0, |x: &bool| b(*x);
    HP_UdpNode_SetFreeBufferPoolSize, HP_UdpNode_GetFreeBufferPoolSize: DWORD,
        |h| h.knobs().free_buffer_pool_size, |v: DWORD| v, |x: &u32| *x;
    HP_UdpNode_SetFreeBufferPoolHold, HP_UdpNode_GetFreeBufferPoolHold: DWORD,
        |h| h.knobs().free_buffer_pool_hold, |v: DWORD| v, |x: &u32| *x;
}

/// Worker threads = shards (0: one per CPU; a cast node runs on one).
#[no_mangle]
pub extern "C" fn HP_UdpNode_SetWorkerThreadCount(p: PVOID, v: DWORD) {
    guard((), || {
        if let Some(h) = node(p) {
            h.cfg().shards = (v > 0).then_some(v as usize);
        }
    })
}

/// The shard count set (or the CPU count).
#[no_mangle]
pub extern "C" fn HP_UdpNode_GetWorkerThreadCount(p: PVOID) -> DWORD {
    guard(0, || {
        node(p).map_or(0, |h| {
            h.cfg()
                .shards
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                as DWORD
        })
    })
}

/// Kept for the getter: a node's shards bind with SO_REUSEPORT (one socket per shard).
#[no_mangle]
pub extern "C" fn HP_UdpNode_SetReuseAddressPolicy(p: PVOID, v: c_int) {
    guard((), || {
        if let Some(h) = node(p) {
            h.knobs().node_reuse = v;
        }
    })
}

/// What `HP_UdpNode_SetReuseAddressPolicy` set (HP's default RAP_NONE).
#[no_mangle]
pub extern "C" fn HP_UdpNode_GetReuseAddressPolicy(p: PVOID) -> c_int {
    guard(rap::RAP_NONE, || {
        node(p).map_or(rap::RAP_NONE, |h| h.knobs().node_reuse)
    })
}
